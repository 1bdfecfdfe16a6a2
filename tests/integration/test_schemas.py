"""Generated requests, valid and invalid, against both services' OpenAPI schemas
(schemathesis, bounded examples): never a 5xx, never a response outside its schema."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
import schemathesis
from helpers import Stack
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import Case, GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    negative_data_rejection,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from shared.signing import ServiceSignature

pytestmark = pytest.mark.integration

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    negative_data_rejection,
]
EXAMPLES = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


@pytest.fixture(scope="session")
def signed(stack: Stack) -> Iterator[httpx.Client]:
    """Signs like the other service would, so generated data reaches the routes."""
    with httpx.Client(auth=ServiceSignature(stack.secret), timeout=30) as client:
        yield client


@pytest.mark.parametrize("mode", list(GenerationMode))
def test_backend_api_conforms_to_its_schema(
    mode: GenerationMode, stack: Stack, api_token: str, signed: httpx.Client
) -> None:
    headers = {"Authorization": f"Bearer {api_token}"}
    _exercise(f"{stack.api_url}/openapi.json", stack.api_url, mode, signed, headers)


@pytest.mark.parametrize("mode", list(GenerationMode))
def test_compute_api_conforms_to_its_schema(
    mode: GenerationMode, stack: Stack, signed: httpx.Client
) -> None:
    _exercise(f"{stack.services_url}/openapi.json", stack.services_url, mode, signed, {})


def _exercise(
    schema_url: str,
    base_url: str,
    mode: GenerationMode,
    client: httpx.Client,
    headers: dict[str, str],
) -> None:
    """Every operation of the schema, EXAMPLES cases each, generated in `mode`."""
    # An operation the schema fails to describe raises here, failing the test.
    operations = [
        result.ok()  # type: ignore[union-attr]
        for result in schemathesis.openapi.from_url(schema_url).get_all_operations()
    ]
    assert operations
    for operation in operations:
        if operation.label == "DELETE /api/session":
            continue  # signing out would revoke the token every other operation uses

        @EXAMPLES
        @given(case=operation.as_strategy(generation_mode=mode))
        def call_and_validate(case: Case) -> None:  # type: ignore[type-arg]
            kwargs = case.as_transport_kwargs(base_url=base_url, headers=headers)
            response = client.request(
                kwargs["method"],
                kwargs["url"],
                headers=kwargs.get("headers"),
                params=kwargs.get("params"),
                json=kwargs.get("json"),
                content=kwargs.get("content") or kwargs.get("data"),
            )
            case.validate_response(response, checks=CHECKS)

        try:
            call_and_validate()
        except Unsatisfiable:
            # Nothing of this operation can be made invalid (no parameters, no body).
            assert mode is GenerationMode.NEGATIVE, operation.label

"""The API's OpenAPI schema, as a client generator and a reader need it: every operation
summarised, described and exemplified, every error one documented model, tags described,
the internal callback left out."""

from __future__ import annotations

from typing import Any

import pytest

from backend.main import create_app
from backend_services.main import create_app as create_compute_app

Schema = dict[str, Any]


@pytest.fixture(scope="module")
def schema() -> Schema:
    """The public schema: the API's."""
    document: Schema = create_app().openapi()
    return document


@pytest.fixture(scope="module", params=["api", "compute"])
def either_schema(request: pytest.FixtureRequest) -> Schema:
    factory = create_app if request.param == "api" else create_compute_app
    document: Schema = factory().openapi()
    return document


def operations(schema: Schema) -> list[tuple[str, Schema]]:
    return [
        (f"{method.upper()} {path}", operation)
        for path, methods in schema["paths"].items()
        for method, operation in methods.items()
    ]


def resolved(schema: Schema, node: Schema) -> Schema:
    while "$ref" in node:
        node = schema["components"]["schemas"][node["$ref"].rsplit("/", 1)[-1]]
    if node.get("type") == "array":
        return resolved(schema, node["items"])
    return node


def has_example(schema: Schema, content: Schema) -> bool:
    return (
        "example" in content
        or "examples" in content
        or any(
            "examples" in resolved(schema, option)
            for option in content["schema"].get("anyOf", [content["schema"]])
        )
    )


def test_every_operation_has_a_summary_and_a_description(schema: Schema) -> None:
    for name, operation in operations(schema):
        generated = operation["operationId"].replace("_", " ").title()
        assert operation.get("summary") not in (None, "", generated), name
        assert operation.get("description"), name


def test_every_body_and_every_answer_has_an_example(schema: Schema) -> None:
    for name, operation in operations(schema):
        if "requestBody" in operation:
            for content in operation["requestBody"]["content"].values():
                assert has_example(schema, content), f"{name}: request body"
        for code, response in operation["responses"].items():
            if code.startswith("2") and "application/json" in response.get("content", {}):
                content = response["content"]["application/json"]
                assert has_example(schema, content), f"{name}: {code}"


def test_every_error_is_one_documented_model(either_schema: Schema) -> None:
    schema = either_schema
    components = schema["components"]["schemas"]
    assert "HTTPValidationError" not in components
    assert set(components["ErrorBody"]["properties"]) == {"detail", "errors", "report", "used_by"}
    for name, operation in operations(schema):
        errors = {code: r for code, r in operation["responses"].items() if code[0] in "45"}
        if name.split()[1].endswith(("/live", "/ready", "/health")):
            continue
        assert errors, name
        for code, response in errors.items():
            reference = response["content"]["application/json"]["schema"]["$ref"]
            assert reference.endswith("/ErrorBody"), f"{name} {code}"
            assert response["description"], f"{name} {code}"


def test_tags_are_described(either_schema: Schema) -> None:
    schema = either_schema
    described = {tag["name"]: tag["description"] for tag in schema["tags"]}
    for name, operation in operations(schema):
        for tag in operation["tags"]:
            assert described.get(tag), f"{name}: tag {tag}"


def test_operation_ids_are_the_functions_names_and_unique(either_schema: Schema) -> None:
    ids = [operation["operationId"] for _, operation in operations(either_schema)]

    assert len(ids) == len(set(ids))
    assert all(identifier.isidentifier() for identifier in ids)


def test_the_internal_callback_is_not_public() -> None:
    assert "/api/backtest/save_result" not in create_app().openapi()["paths"]

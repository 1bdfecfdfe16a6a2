"""Each app's OpenAPI schema, made for client generators and readers: one error model
for every error response (the framework's own validation-error model replaced by
`ErrorBody`), and its tags described."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute

__all__ = ["Tag", "install_openapi", "operation_id"]

_FRAMEWORK_ERRORS = ("HTTPValidationError", "ValidationError")
_ERROR_REF = "#/components/schemas/ErrorBody"

Tag = dict[str, str]


def operation_id(route: APIRoute) -> str:
    """An operation's id is its function's name (`create_strategy`): what a generated
    client names its methods after, rather than the name glued to its path."""
    return route.name


def install_openapi(app: FastAPI, description: str, tags: Sequence[Tag]) -> None:
    def schema() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = get_openapi(
                title=app.title,
                version=app.version,
                description=description,
                routes=app.routes,
                tags=list(tags),
            )
            _use_one_error_model(document)
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = schema  # type: ignore[method-assign]


def _use_one_error_model(document: dict[str, Any]) -> None:
    components = document.get("components", {}).get("schemas", {})
    for name in _FRAMEWORK_ERRORS:
        components.pop(name, None)
    for operation in _operations(document):
        for code, response in operation.get("responses", {}).items():
            if code[0] in "45":  # errors are JSON, whatever the route's success answers
                contents: list[dict[str, Any]] = list(response.get("content", {}).values())
                schema = contents[0].get("schema", {}) if contents else {}
                response["content"] = {"application/json": {"schema": schema}}
            for content in response.get("content", {}).values():
                reference = content.get("schema", {}).get("$ref", "")
                if reference.rsplit("/", 1)[-1] in _FRAMEWORK_ERRORS:
                    content["schema"] = {"$ref": _ERROR_REF}
                    response["description"] = "Refused input (the fields and why)"


def _operations(document: dict[str, Any]) -> list[dict[str, Any]]:
    return [operation for path in document.get("paths", {}).values() for operation in path.values()]

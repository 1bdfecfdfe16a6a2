"""Every response of both services tells a browser what a page may do (a strict
Content-Security-Policy, no sniffing, no framing, no referrer), whatever answered it:
a page, a script, JSON, a refusal of the intake, an unknown path."""

from __future__ import annotations

import httpx
import pytest
from helpers import Stack

pytestmark = pytest.mark.integration

EXPECTED = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}


@pytest.mark.parametrize(
    ("service", "method", "path"),
    [
        ("api", "GET", "/"),
        ("api", "GET", "/docs"),
        ("api", "GET", "/static/app.js"),
        ("api", "GET", "/vendor/swagger-ui/swagger-ui-bundle.js"),
        ("api", "GET", "/openapi.json"),
        ("api", "GET", "/api/health"),
        ("api", "GET", "/api/health/live"),
        ("api", "GET", "/api/me"),
        ("api", "GET", "/api/no-such-thing"),
        ("api", "POST", "/api/backtest/save_result"),
        ("compute", "GET", "/health"),
        ("compute", "GET", "/metrics"),
        ("compute", "POST", "/backtest/run"),
    ],
)
def test_every_response_carries_the_security_headers(
    stack: Stack, service: str, method: str, path: str
) -> None:
    base = stack.api_url if service == "api" else stack.services_url

    response = httpx.request(method, f"{base}{path}")

    for name, value in EXPECTED.items():
        assert response.headers[name] == value, (name, response.status_code)
    policy = dict(
        directive.strip().split(" ", 1)
        for directive in response.headers["Content-Security-Policy"].split(";")
    )
    assert policy["default-src"] == "'self'"
    assert policy["script-src"] == "'self'"  # no inline script, no eval
    assert policy["style-src"] == "'self'"
    assert policy["frame-ancestors"] == "'none'"
    assert policy["object-src"] == "'none'"


def test_the_docs_page_runs_no_inline_script(stack: Stack) -> None:
    page = httpx.get(f"{stack.api_url}/docs").text

    assert "<script>" not in page
    assert '<script src="/static/docs.js"' in page


def test_signing_out_revokes_only_the_token_used(api: httpx.Client) -> None:
    other = api.post("/api/tokens", json={"name": "laptop"}).json()["token"]

    signed_out = api.delete("/api/session")

    assert signed_out.status_code == 204
    assert api.get("/api/me").status_code == 401
    assert api.delete("/api/session").status_code == 401
    still = api.get("/api/me", headers={"Authorization": f"Bearer {other}"})
    assert still.status_code == 200

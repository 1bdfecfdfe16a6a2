"""The top-level test_integration.py, run as a program against the test stack."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from helpers import Stack

pytestmark = pytest.mark.integration

SCRIPT = Path(__file__).resolve().parents[2] / "test_integration.py"


def test_stack_check_passes_against_a_running_stack(stack: Stack, api: httpx.Client) -> None:
    token = api.headers["Authorization"].removeprefix("Bearer ")
    env = {"API_URL": stack.api_url, "BACKEND_SERVICES_URL": stack.services_url, "API_TOKEN": token}

    run = subprocess.run(
        [sys.executable, str(SCRIPT)], env=env, capture_output=True, text=True, timeout=120
    )

    assert run.returncode == 0, run.stderr
    assert "completed: total return" in run.stdout
    assert run.stdout.rstrip().endswith("OK")


def test_stack_check_fails_with_a_bad_token(stack: Stack) -> None:
    env = {"API_URL": stack.api_url, "BACKEND_SERVICES_URL": stack.services_url, "API_TOKEN": "x"}

    run = subprocess.run(
        [sys.executable, str(SCRIPT)], env=env, capture_output=True, text=True, timeout=60
    )

    assert run.returncode == 1
    assert "401" in run.stderr

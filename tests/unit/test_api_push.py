"""A worker's pushes to the API against a mocked transport (respx): live changes held
briefly and coalesced, final states first and acknowledged, all signed."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import httpx
import respx

from backend_services.services.backtest.execution.api_push import HOLD_S, ApiPush
from shared.contracts.executions import ExecutionReport, ExecutionUpdate
from shared.contracts.lifecycle import BacktestStatus
from shared.paths import EVENTS_PATH, SAVE_RESULT_PATH
from shared.signing import SIGNATURE_HEADER

API = "http://api.test"


def _update(progress: float) -> ExecutionUpdate:
    return ExecutionUpdate(
        backtest_id="b1", execution_id="e1", status=BacktestStatus.RUNNING, progress=progress
    )


def _failed() -> ExecutionReport:
    return ExecutionReport(
        execution_id="e1", backtest_id="b1", status=BacktestStatus.FAILED, error="no bars"
    )


def _wait_for(condition: threading.Event) -> None:
    assert condition.wait(2.0), "not pushed within two seconds"


def _answer(status: int, then: threading.Event) -> Callable[[httpx.Request], httpx.Response]:
    """A respx side effect: answer `status`, and set `then`."""

    def answer(request: httpx.Request) -> httpx.Response:
        then.set()
        return httpx.Response(status)

    return answer


@respx.mock(base_url=API, assert_all_called=False)
def test_a_run_shorter_than_the_hold_is_told_by_its_final_state_alone(
    respx_mock: respx.MockRouter,
) -> None:
    events = respx_mock.post(EVENTS_PATH).respond(204)
    saved = respx_mock.post(SAVE_RESULT_PATH).respond(200, json={"stored": True})
    acknowledged = threading.Event()
    push = ApiPush(API, "s3cret")

    push.update(_update(0.0))
    push.deliver(_failed(), "req-1", acknowledged.set)
    _wait_for(acknowledged)
    time.sleep(2 * HOLD_S)

    assert events.call_count == 0
    request = saved.calls.last.request
    assert request.headers[SIGNATURE_HEADER]
    assert request.headers["X-Request-ID"] == "req-1"
    assert ExecutionReport.model_validate_json(request.content) == _failed()


@respx.mock(base_url=API)
def test_changes_held_past_the_hold_are_pushed_newest_only(
    respx_mock: respx.MockRouter,
) -> None:
    pushed = threading.Event()
    events = respx_mock.post(EVENTS_PATH).mock(side_effect=_answer(204, pushed))
    push = ApiPush(API, "s3cret")

    for progress in (1.0, 2.0, 3.0):
        push.update(_update(progress))
    _wait_for(pushed)
    time.sleep(2 * HOLD_S)

    assert events.call_count == 1
    assert ExecutionUpdate.model_validate_json(events.calls.last.request.content).progress == 3.0


@respx.mock(base_url=API)
def test_a_refused_final_state_is_not_noted_as_delivered(respx_mock: respx.MockRouter) -> None:
    answered = threading.Event()
    respx_mock.post(SAVE_RESULT_PATH).mock(side_effect=_answer(503, answered))
    noted: list[bool] = []
    push = ApiPush(API, "s3cret")

    push.deliver(_failed(), None, lambda: noted.append(True))
    _wait_for(answered)
    time.sleep(0.1)

    assert noted == []

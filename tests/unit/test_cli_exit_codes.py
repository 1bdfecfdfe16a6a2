"""Every exit code as documented: the README and `botclub --help` list the same lines,
and a command ends with each code in the case its line names (the API's answers through
a mocked transport; a closed pipe and Ctrl-C through real processes)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import respx

from botclub.cli import main
from botclub.failures import ExitCode, exit_code_lines

SERVER = "http://api.test"
README = Path(__file__).parents[2] / "README.md"


@pytest.fixture
def signed_in(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    monkeypatch.setenv("BOTCLUB_SERVER", SERVER)
    monkeypatch.setenv("BOTCLUB_TOKEN", "bcb_test")


def botclub(tmp_path: Path, *args: str, **env: str) -> subprocess.Popen[bytes]:
    """`botclub ARGS` as a process of its own, run outside the checkout."""
    return subprocess.Popen(
        [sys.executable, "-m", "botclub.cli", *args],
        cwd=tmp_path,
        env={**os.environ, "XDG_CONFIG_HOME": str(tmp_path), **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def test_the_readme_and_the_help_list_every_exit_code_alike(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    shown = capsys.readouterr().out.splitlines()
    documented = README.read_text().splitlines()

    for line in exit_code_lines():
        assert line in documented
        assert f"  {line}" in shown
    assert [int(line.split()[0]) for line in exit_code_lines()] == [code for code in ExitCode]


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (400, 5), (401, 3), (403, 4), (404, 4), (408, 5), (409, 5), (413, 5), (415, 5),
        (422, 5), (429, 5), (500, 1), (502, 6), (503, 6), (504, 6), (507, 1),
    ],
)  # fmt: skip
@respx.mock
def test_an_api_error_ends_the_command_with_the_code_documented_for_its_status(
    status: int, code: int, signed_in: None, capsys: pytest.CaptureFixture[str]
) -> None:
    respx.get(f"{SERVER}/api/me").respond(
        status, json={"detail": "what went wrong", "errors": [], "report": None}
    )

    ended = main(["whoami"])

    assert ended == code
    assert capsys.readouterr().err.startswith(f"error: {status}: what went wrong\n")


@respx.mock
def test_done_is_0_and_a_failed_backtest_is_1(
    signed_in: None, capsys: pytest.CaptureFixture[str]
) -> None:
    respx.get(f"{SERVER}/api/me").respond(200, json={"id": "u1", "name": "alice"})
    respx.get(f"{SERVER}/api/backtest/b1").respond(
        200, json={"id": "b1", "status": "failed", "error": "no bars", "result": None}
    )

    assert main(["whoami"]) == ExitCode.OK
    assert main(["results", "b1"]) == ExitCode.FAILED
    assert "error: no bars" in capsys.readouterr().out


@respx.mock
def test_an_api_that_does_not_answer_is_6(signed_in: None) -> None:
    respx.get(f"{SERVER}/api/me").mock(side_effect=httpx.ConnectError("refused"))

    assert main(["whoami"]) == ExitCode.UNREACHABLE


def test_a_bad_command_line_is_2(signed_in: None, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as parsed:
        main(["backtest"])

    assert parsed.value.code == ExitCode.USAGE
    assert main(["backtest", "SMA", "--set", "fast"]) == ExitCode.USAGE


@respx.mock
def test_output_to_a_closed_pipe_ends_quietly_with_141(
    signed_in: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    respx.get(f"{SERVER}/api/me").respond(200, json={"id": "u1", "name": "alice"})
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone, as `| head` is once it has its lines
    closed_pipe = open(write_end, "w")  # noqa: SIM115 (main points it at /dev/null)
    monkeypatch.setattr(sys, "stdout", closed_pipe)

    ended = main(["whoami"])

    closed_pipe.close()
    assert ended == ExitCode.PIPE_CLOSED
    assert capsys.readouterr().err == ""


def test_ctrl_c_while_waiting_for_the_api_is_130(tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as silent_server:
        port = silent_server.getsockname()[1]
        process = botclub(
            tmp_path, "whoami", BOTCLUB_SERVER=f"http://127.0.0.1:{port}", BOTCLUB_TOKEN="x"
        )
        silent_server.settimeout(30)
        connection, _ = silent_server.accept()  # it waits for an answer that never comes
        process.send_signal(signal.SIGINT)
        ended = process.wait(30)
        connection.close()

    assert ended == ExitCode.INTERRUPTED
    assert b"Traceback" not in process.communicate()[1]

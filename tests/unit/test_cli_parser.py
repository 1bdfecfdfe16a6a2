"""The command line's own checks, before anything runs: a version, ports in range,
help for every argument, usage errors with exit code 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from botclub.cli import _parser, main


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--version"])

    assert exited.value.code == 0
    assert capsys.readouterr().out.startswith("botclub 0.")


@pytest.mark.parametrize("port", ["99999", "0", "-1", "http"])
def test_a_port_out_of_range_is_a_usage_error(
    port: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["run", "--port", port])

    assert exited.value.code == 2
    error = capsys.readouterr().err
    assert "argument --port" in error
    assert "Traceback" not in error


def test_every_argument_of_every_command_has_help() -> None:
    parser = _parser()
    unexplained = []
    pending = [("botclub", parser)]
    while pending:
        name, command = pending.pop()
        for action in command._actions:
            if action.dest in ("help", "version"):
                continue
            if action.choices and isinstance(action.choices, dict):  # subcommands
                pending += [(f"{name} {sub}", p) for sub, p in action.choices.items()]
            elif not action.help:
                unexplained.append(f"{name}: {action.dest}")

    assert unexplained == []


def test_a_member_command_without_a_sign_in_exits_3(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    monkeypatch.delenv("BOTCLUB_TOKEN", raising=False)

    code = main(["symbols"])

    assert code == 3
    assert capsys.readouterr().err == "error: not signed in\nhint: botclub login --token TOKEN\n"

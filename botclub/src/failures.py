"""What a command ends with when it cannot do its job: one line, a hint, an exit code
a script can act on (never a traceback)."""

from __future__ import annotations

from enum import IntEnum

__all__ = ["CommandFailed", "ExitCode"]


class ExitCode(IntEnum):
    """The exit codes of every `botclub` command (also listed by `botclub --help`)."""

    OK = 0
    FAILED = 1  # the work failed or was cancelled, or the server answered an error
    USAGE = 2  # the command line itself is wrong
    NOT_SIGNED_IN = 3  # no token, or one the server refuses
    NOT_FOUND = 4  # no such strategy, backtest or symbol (or not the member's)
    REFUSED = 5  # the server refused the input (the message says why)
    UNREACHABLE = 6  # the API or the database did not answer


class CommandFailed(Exception):
    def __init__(self, message: str, code: ExitCode = ExitCode.FAILED, hint: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.hint = hint

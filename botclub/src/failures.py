"""What a command ends with when it cannot do its job: one line, a hint, an exit code
a script can act on (never a traceback).

The exit codes, what each means and which HTTP answers lead to it are stated once, here:
`botclub --help` prints `exit_code_lines()`, the README lists the same lines, and the API
client maps statuses with `HTTP_EXIT_CODES`."""

from __future__ import annotations

from enum import IntEnum

__all__ = ["HTTP_EXIT_CODES", "CommandFailed", "ExitCode", "exit_code_for", "exit_code_lines"]


class ExitCode(IntEnum):
    """The exit codes of every `botclub` command."""

    OK = 0
    FAILED = 1  # the work failed or was cancelled, or the server answered an error
    USAGE = 2  # the command line itself is wrong
    NOT_SIGNED_IN = 3  # no token, or one the server refuses
    NOT_FOUND = 4  # no such strategy, backtest or symbol (or not the member's)
    REFUSED = 5  # the server refused the input (the message says why)
    UNREACHABLE = 6  # the API or the database did not answer
    INTERRUPTED = 130  # Ctrl-C, as a shell reports it (128 + SIGINT)
    # What a shell reports for a command ended by SIGPIPE (128 + 13): the reader of its
    # output went away, so `set -o pipefail` scripts see what they see with any other tool.
    PIPE_CLOSED = 141


# Any other error status ends the command with FAILED.
HTTP_EXIT_CODES: dict[int, ExitCode] = {
    401: ExitCode.NOT_SIGNED_IN,
    403: ExitCode.NOT_FOUND,
    404: ExitCode.NOT_FOUND,
    400: ExitCode.REFUSED,
    408: ExitCode.REFUSED,
    409: ExitCode.REFUSED,
    413: ExitCode.REFUSED,
    415: ExitCode.REFUSED,
    422: ExitCode.REFUSED,
    429: ExitCode.REFUSED,
    502: ExitCode.UNREACHABLE,
    503: ExitCode.UNREACHABLE,
    504: ExitCode.UNREACHABLE,
}

_MEANINGS = {
    ExitCode.OK: "done",
    ExitCode.FAILED: "the work failed or was cancelled, or the server failed",
    ExitCode.USAGE: "bad command line",
    ExitCode.NOT_SIGNED_IN: "not signed in, or the token was refused",
    ExitCode.NOT_FOUND: "not found, or another member's or the system's",
    ExitCode.REFUSED: "the server refused the input, its message says why",
    ExitCode.UNREACHABLE: "the API or the database did not answer",
    ExitCode.INTERRUPTED: "interrupted by Ctrl-C (`botclub run`, which Ctrl-C stops, exits 0)",
    ExitCode.PIPE_CLOSED: "the reader of the output closed it, as `| head` does; nothing "
    "more is printed",
}


def exit_code_for(status: int) -> ExitCode:
    """The exit code of a command the API answered with error `status`."""
    return HTTP_EXIT_CODES.get(status, ExitCode.FAILED)


def exit_code_lines() -> list[str]:
    """One line per exit code: the code, its meaning, and the HTTP statuses leading to it."""
    lines = []
    for code, meaning in _MEANINGS.items():
        statuses = [str(s) for s, mapped in sorted(HTTP_EXIT_CODES.items()) if mapped is code]
        if statuses:
            meaning += f" (HTTP {', '.join(statuses)})"
        elif code is ExitCode.FAILED:
            meaning += " (any other HTTP error status)"
        lines.append(f"{code.value:>3}  {meaning}")
    return lines


class CommandFailed(Exception):
    def __init__(self, message: str, code: ExitCode = ExitCode.FAILED, hint: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.hint = hint

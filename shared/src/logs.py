"""Logging for every process of the stack: plain lines for a terminal, or JSON lines
(LOG_FORMAT=json) for a fleet's log collector, each carrying the ids of the request
and of the backtest it was written for, so one backtest can be followed from the API
through the compute service to the worker that ran it.

The ids live in context variables: the request context sets `request_id` for each
request; a worker sets all three for the run it works on.
"""

from __future__ import annotations

import json
import logging
import os
from contextvars import ContextVar
from datetime import UTC, datetime

__all__ = ["backtest_id", "configure_logging", "execution_id", "request_id"]

request_id: ContextVar[str | None] = ContextVar("request_id", default=None)
backtest_id: ContextVar[str | None] = ContextVar("backtest_id", default=None)
execution_id: ContextVar[str | None] = ContextVar("execution_id", default=None)

_CONTEXT = {"request_id": request_id, "backtest_id": backtest_id, "execution_id": execution_id}
_TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class JsonLines(logging.Formatter):
    """One JSON object per record: time (UTC, ISO 8601), level, logger, message, the ids
    set in this context, the process and, for an exception, its traceback."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "pid": record.process,
        }
        for name, variable in _CONTEXT.items():
            value = variable.get()
            if value is not None:
                line[name] = value
        if record.exc_info:
            line["error"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False)


def configure_logging() -> None:
    """The root logger at INFO, in the format LOG_FORMAT names (`text`, the default, or
    `json`); replaces what was configured before, so a process calls it once, early."""
    handler = logging.StreamHandler()
    if os.environ.get("LOG_FORMAT", "text").lower() == "json":
        handler.setFormatter(JsonLines())
    else:
        handler.setFormatter(logging.Formatter(_TEXT_FORMAT))
    root = logging.getLogger()
    for existing in root.handlers[:]:
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(logging.INFO)

"""Paths one service calls on the other, spelled once."""

from __future__ import annotations

__all__ = ["COMPUTE_MARKET_DATA_PATH", "COMPUTE_RUN_PATH", "EVENTS_PATH", "SAVE_RESULT_PATH"]

# On the backend: where the compute service delivers an execution's final state.
SAVE_RESULT_PATH = "/api/backtest/save_result"
# On the backend: where a worker pushes an execution's live changes (claimed, progress).
EVENTS_PATH = "/api/backtest/events"
# On the compute service.
COMPUTE_RUN_PATH = "/backtest/run"
COMPUTE_MARKET_DATA_PATH = "/market-data"

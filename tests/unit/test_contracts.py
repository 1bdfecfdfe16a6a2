"""The wire models: what they accept, refuse and resolve."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
import zstandard
from pydantic import ValidationError

from shared.contracts.backtests import BacktestParams, ResolvedBacktest
from shared.contracts.executions import ExecutionReport, PackedResult
from shared.contracts.results import BacktestResult
from shared.contracts.strategies import Costs, StrategySnapshot
from shared.limits import MAX_RESULT_BYTES
from shared.packed import packed_json

STRATEGY = StrategySnapshot(
    id="s1",
    name="x",
    symbol="GOOG",
    timeframe="1d",
    parameters={"fast": 10, "slow": 30},
    costs=Costs(commission_pct=0.002),
)


def _zstd(raw: bytes) -> bytes:
    return zstandard.ZstdCompressor().compress(raw)


# A result as the first release stored it: a year without a trade.
_QUIET_YEAR: dict[str, Any] = {
    "strategy_id": "s1",
    "symbol": "GOOG",
    "timeframe": "1d",
    "start": "2010-01-04T00:00:00Z",
    "end": "2010-12-31T00:00:00Z",
    "bars": 252,
    "initial_capital": 10_000,
    "trades": [],
    "equity_curve": {"time": ["2010-01-04T00:00:00Z"], "equity": [10_000]},
    "final_equity": 10_000,
    "total_return": 0,
    "buy_and_hold_return": 0.1,
    "cagr": 0,
    "volatility": 0,
    "sharpe_ratio": None,
    "sortino_ratio": None,
    "max_drawdown": 0,
    "max_drawdown_duration_bars": 0,
    "exposure": 0,
    "total_trades": 0,
    "win_rate": None,
    "profit_factor": None,
    "best_trade": None,
    "worst_trade": None,
    "average_trade": None,
    "expectancy": None,
    "periods_per_year": 252,
}


def test_naive_dates_are_read_as_utc() -> None:
    params = BacktestParams(start_date=datetime(2010, 1, 1), end_date=datetime(2011, 1, 1))

    assert params.start_date == datetime(2010, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"end_date": "2009-01-01"}, "end_date must be after start_date"),
        ({"initial_capital": 0}, "greater than or equal to 1"),
        ({"initial_capital": 1e13}, "less than or equal to"),
        ({"timeframe": "2h"}, "Input should be"),
        ({"symbol": "a/b"}, "a symbol name is letters, digits"),
        ({"parameters": {"Fast": 10}}, "a parameter's name is 1 to 32 lower-case letters"),
        ({"surprise": True}, "Extra inputs are not permitted"),
    ],
)
def test_bad_params_are_refused(fields: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        BacktestParams.model_validate(
            {"start_date": "2010-01-01", "end_date": "2011-01-01"} | fields
        )


def test_resolve_applies_overrides_over_the_strategy() -> None:
    params = BacktestParams.model_validate(
        {
            "start_date": "2010-01-01",
            "end_date": "2011-01-01",
            "timeframe": "1w",
            "parameters": {"fast": 5},
        }
    )

    resolved = ResolvedBacktest.resolve(STRATEGY, params)

    assert resolved.timeframe == "1w"
    assert resolved.symbol == "GOOG"
    assert resolved.parameters == {"fast": 5, "slow": 30}
    assert resolved.costs.commission_pct == 0.002


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"fast": 2.5}, "parameter 'fast' is a period: it must be a whole number"),
        ({"fast": 0}, "parameter 'fast' is a period"),
        ({"slowest": 3}, "the strategy has no parameter named slowest"),
    ],
)
def test_resolve_refuses_overrides_the_rules_cannot_use(
    overrides: dict[str, float], message: str
) -> None:
    params = BacktestParams.model_validate(
        {"start_date": "2010-01-01", "end_date": "2011-01-01", "parameters": overrides}
    )

    with pytest.raises(ValueError, match=message):
        ResolvedBacktest.resolve(STRATEGY, params)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"rules": {"long_entry": "smaa(close, 3) > 1"}}, "rules.long_entry: unknown function"),
        ({"rules": {"long_entry": None, "short_entry": None}}, "needs a long_entry or a short"),
        ({"parameters": {"close": 3}}, "clash with the rule language: close"),
        ({"orders": {"sizing": {"kind": "fraction_of_equity", "value": 2}}}, "at most 1"),
        ({"orders": {"stop_loss_pct": 1.5}}, "less than 1"),
    ],
)
def test_bad_strategies_are_refused(fields: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        StrategySnapshot.model_validate(STRATEGY.model_dump() | fields)


def test_only_final_states_can_be_reported() -> None:
    with pytest.raises(ValidationError, match="only a final status"):
        ExecutionReport(execution_id="e", backtest_id="b", status="running")
    with pytest.raises(ValidationError, match="must carry its result"):
        ExecutionReport(execution_id="e", backtest_id="b", status="completed")


def test_a_result_is_reported_once_as_it_is_or_packed() -> None:
    result = BacktestResult.model_validate(_QUIET_YEAR)
    packed = PackedResult.of(result)
    report = ExecutionReport(
        execution_id="e", backtest_id="b", status="completed", packed_result=packed
    )

    crossed = ExecutionReport.model_validate_json(report.model_dump_json())

    assert crossed.packed_result == packed
    assert BacktestResult.model_validate_json(packed_json(packed.packed)) == result
    assert packed.statistics == result.statistics()
    as_is = ExecutionReport(execution_id="e", backtest_id="b", status="completed", result=result)
    assert as_is.result_packed() == packed
    with pytest.raises(ValidationError, match="carried once"):
        ExecutionReport(
            execution_id="e",
            backtest_id="b",
            status="completed",
            result=result,
            packed_result=packed,
        )


@pytest.mark.parametrize(
    ("packed", "reason"),
    [
        (b'{"not": "packed"}', "not a packed value"),
        (zstandard.ZstdCompressor(write_content_size=False).compress(b"{}"), "not a packed value"),
        (_zstd(b" " * (MAX_RESULT_BYTES + 1)), "more than"),
    ],
)
def test_a_packed_result_must_be_packed_within_bounds(packed: bytes, reason: str) -> None:
    statistics = BacktestResult.model_validate(_QUIET_YEAR).statistics()
    wire = PackedResult.model_construct(packed=packed, statistics=statistics).model_dump_json()

    with pytest.raises(ValidationError, match=reason):
        PackedResult.model_validate_json(wire)


def test_a_backtest_stored_by_the_first_release_still_reads() -> None:
    """Its params listed every parameter (null when kept); its result lacked the
    statistics and curves added since."""
    params = BacktestParams.model_validate(
        {
            "start_date": "2010-01-01T00:00:00Z",
            "end_date": "2011-01-01T00:00:00Z",
            "initial_capital": 10_000,
            "timeframe": None,
            "symbol": None,
            "parameters": {"fast": None, "slow": 20},
            "costs": None,
        }
    )
    first_release_result = _QUIET_YEAR

    result = BacktestResult.model_validate(first_release_result)

    assert params.parameters == {"slow": 20}
    assert result.sqn is None
    assert result.equity_curve.drawdown == []


def test_whole_number_parameters_keep_their_type() -> None:
    strategy = StrategySnapshot(
        id="s",
        name="n",
        symbol="GOOG",
        timeframe="1d",
        parameters={"fast": 14, "slow": 30, "level": 0.5},
        costs=Costs(),
    )

    assert strategy.model_dump(mode="json")["parameters"] == {"fast": 14, "slow": 30, "level": 0.5}
    assert '"fast":14,' in strategy.model_dump_json()
    assert (
        type(StrategySnapshot.model_validate_json(strategy.model_dump_json()).parameters["fast"])
        is int
    )

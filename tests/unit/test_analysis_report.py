"""report.html's analysis and optimization parts on the cases the API tests do not
reach: a result stored before its analysis existed, a sweep of one parameter."""

from __future__ import annotations

from datetime import datetime

from helpers import minute_walk

from backend.outputs.analysis_report import analysis_html, trade_extra_cells
from backend.outputs.optimization_report import optimization_html
from backend.schemas import OptimizationOutline
from backend_services.services.backtest.backtest_engine import BacktestEngine
from shared.contracts.backtests import BacktestParams, ResolvedBacktest
from shared.contracts.results import BacktestResult
from shared.contracts.strategies import Costs, StrategySnapshot


def _result() -> BacktestResult:
    strategy = StrategySnapshot(
        id="s1", name="x", symbol="X", timeframe="1m", costs=Costs(commission_pct=0.001)
    )
    params = BacktestParams(start_date=datetime(2020, 1, 1), end_date=datetime(2030, 1, 1))
    backtest = ResolvedBacktest.resolve(strategy, params)
    return BacktestEngine().run(minute_walk(2_000, seed=5), backtest, "s1").result


def _no_chart(times: object, series: object) -> str:
    return "<svg/>"


def test_a_result_stored_before_its_analysis_says_so() -> None:
    old = _result().model_copy(update={"analysis": None})
    html = analysis_html(old, _no_chart)
    assert "stored before its analysis was computed" in html
    assert "monthly-returns" not in html


def test_a_trade_stored_before_its_extra_columns_shows_empty_cells() -> None:
    added = ("duration_seconds", "notional", "commission", "run_up", "drawdown")
    trade = _result().trades[0].model_copy(update=dict.fromkeys(added) | {"size": 3.5})
    assert trade_extra_cells(trade) == "<td></td><td>3.5000</td>" + "<td></td>" * 4
    with_extras = trade.model_copy(
        update={
            "duration_seconds": 2 * 86_400 + 6 * 3_600,
            "notional": 35.0,
            "commission": 0.5,
            "run_up": 0.125,
            "drawdown": -0.05,
        }
    )
    assert trade_extra_cells(with_extras) == (
        "<td>2d 6h</td><td>3.5000</td><td>35.00</td><td>0.50</td><td>12.50 %</td><td>-5.00 %</td>"
    )


def test_a_sweep_of_one_parameter_draws_one_row_of_cells() -> None:
    row = {
        "total_return": 0.1,
        "cagr": 0.05,
        "sharpe_ratio": 1.2,
        "sortino_ratio": 1.5,
        "max_drawdown": -0.2,
        "total_trades": 7,
        "win_rate": 0.5,
        "profit_factor": 1.4,
    }
    outline = OptimizationOutline.model_validate(
        {
            "objective": "sharpe_ratio",
            "combinations": 3,
            "excluded": 0,
            "best_parameters": {"fast": 10},
            "ranked": [
                row | {"parameters": {"fast": fast}, "objective": objective}
                for fast, objective in ((10, 1.2), (5, 0.4), (15, None))
            ],
            "ranked_total": 3,
            "heatmap": {
                "x": "fast",
                "x_values": [5, 10, 15],
                "y": None,
                "y_values": [],
                "values": [[0.4, 1.2, None]],
            },
        }
    )

    html = optimization_html(outline)

    assert html.count("<rect") == 3 + 2  # the cells and the scale's two ends
    assert "<title>fast = 10: sharpe ratio 1.2</title>" in html
    assert "<title>fast = 15: sharpe ratio no value</title>" in html
    assert 'fill="#f3f4f6"' in html  # the cell without a value
    assert "<tr><td>1</td><td>10</td><td>1.20</td><td>10.00 %</td>" in html
    assert "<tr><td>3</td><td>15</td><td>n/a</td>" in html

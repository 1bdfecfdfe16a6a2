"""The lines a chart draws for a strategy: the series its rules use, as rule text."""

from __future__ import annotations

import pytest

from shared.rules.lines import MAX_LINES, indicator_lines, on_price_scale
from shared.rules.parser import Binary, RuleError, parse_rule, parse_series


def test_the_series_the_rules_compare_or_cross_each_once_with_parameter_values() -> None:
    rules = {
        "long_entry": "crossover(sma(close, fast), sma(close, slow)) and rsi(close, 14) < 30",
        "long_exit": "crossunder(sma(close, fast), sma(close, slow)) or close < lowest(low, 20)[1]",
    }

    lines = indicator_lines(rules, {"fast": 10, "slow": 30})

    assert lines == ["sma(close, 10)", "sma(close, 30)", "rsi(close, 14)", "lowest(low, 20)"]


def test_a_series_inside_another_is_drawn_as_the_outer_one_with_its_defaults_by_name() -> None:
    rules = {"long_entry": "ema(rsi(close, 14), 5) > 50 and close > bbands_upper(close, 20)"}

    lines = indicator_lines(rules, {})

    assert lines == ["ema(rsi(close, 14), 5)", "bbands_upper(close, 20, 2, 2, sma)"]


def test_each_line_reads_back_as_the_call_in_the_rule() -> None:
    rule = "ma((high + low) / 2, length, ema) > atr(14)"
    node = parse_rule(rule, ["length"])
    assert isinstance(node, Binary)

    lines = indicator_lines({"long_entry": rule}, {"length": 30})

    assert lines == ["ma(((high + low) / 2), 30, ema)", "atr(high, low, close, 14)"]
    assert parse_series(lines[1]) == node.right
    assert parse_series(lines[0]) == parse_rule(rule.replace("length", "30"), []).left  # type: ignore[union-attr]


def test_at_most_max_lines() -> None:
    rules = {"long_entry": " and ".join(f"sma(close, {n}) > 0" for n in range(2, 20))}

    assert len(indicator_lines(rules, {})) == MAX_LINES


def test_prices_go_over_the_candles_and_oscillators_below() -> None:
    assert [on_price_scale(name) for name in ("sma", "bbands_upper", "highest", "typprice")] == [
        True,
        True,
        True,
        True,
    ]
    assert [on_price_scale(name) for name in ("rsi", "stdev", "macd", "atr")] == [
        False,
        False,
        False,
        False,
    ]


def test_a_condition_is_no_line() -> None:
    with pytest.raises(RuleError, match="a line must be a series, this is a condition"):
        parse_series("close > open")

"""The dashboard in Debian's Chromium: a finished result still reads in full once its
symbol's bars are deleted; deleting a used symbol asks again, naming the strategies;
strategies are renamed and deleted, backtests deleted, each after a confirmation that
names what else goes; a new strategy's symbol is chosen, never defaulted; and the
glitches are gone (the nav while signed out, rule boxes one row high, a heatmap with no
values, a ranking that cannot be sorted by its columns). No console error on the way."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from browser_pages import screenshot, sign_in
from helpers import (
    UPLOADED_RANGE,
    Stack,
    backtest_params,
    daily_csv,
    strategy_fields,
    upload_symbol,
    wait_for_backtest,
)

pytestmark = pytest.mark.integration

SYMBOLS = "/api/market-data/symbols"
REFUSED = "Failed to load resource: the server responded with a status of {}"


def client(stack: Stack, token: str) -> httpx.Client:
    return httpx.Client(
        base_url=stack.api_url, headers={"Authorization": f"Bearer {token}"}, timeout=30
    )


def strategy_with_backtests(
    api: httpx.Client, count: int, **fields: Any
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    strategy = api.post("/api/strategy", json=strategy_fields(**fields))
    assert strategy.status_code == 201, strategy.text
    range_ = UPLOADED_RANGE if fields.get("symbol", "GOOG") != "GOOG" else {}
    backtests = []
    for _ in range(count):
        started = api.post(
            f"/api/strategy/{strategy.json()['id']}/backtest", json=backtest_params(**range_)
        )
        backtests.append(wait_for_backtest(api, started.json()["id"]))
    assert all(b["status"] == "completed" for b in backtests), backtests
    return strategy.json(), backtests


def take_console_error(page: Any, status: str) -> None:
    """The refusal a test asked for: the browser logs its status, and nothing else may."""
    page.console_errors.remove(REFUSED.format(status))


def test_a_result_reads_in_full_after_its_symbol_is_deleted_by_force(
    page: Any, member: tuple[str, str], stack: Stack, new_client: Callable[[], httpx.Client]
) -> None:
    name, token = member
    api = client(stack, token)
    other = new_client()
    symbol = upload_symbol(api)
    strategy, (backtest,) = strategy_with_backtests(api, 1, name="Mine", symbol=symbol)
    other.post("/api/strategy", json=strategy_fields(name="Theirs", symbol=symbol))
    other_name = other.get("/api/me").json()["name"]
    sign_in(page, name)

    page.click("nav >> text=Market data")
    row = page.locator("tr", has=page.locator(f"td:text-is('{symbol}')"))
    assert row.locator("td").nth(6).text_content() == "you"
    row.locator("button:has-text('Delete')").click()
    first = page.locator("dialog[open]")
    assert "400 bars" in first.text_content()
    first.locator("button:has-text('Delete symbol')").click()
    refused = page.locator("dialog[open]:has-text('is in use')")
    refused.wait_for()
    screenshot(page, "symbol-in-use")
    uses = refused.locator("li").all_text_contents()
    take_console_error(page, "409 (Conflict)")
    assert uses == ["Mine"]  # another member's strategy is counted, never named
    assert "2 strategies use" in refused.text_content()
    assert "1 of other members" in refused.text_content()
    assert "Theirs" not in refused.text_content()
    assert other_name not in refused.text_content()
    assert api.get(f"{SYMBOLS}/{symbol}").status_code == 200  # nothing deleted yet
    refused.locator("button:has-text('Delete anyway')").click()
    page.locator(f"td:text-is('{symbol}')").wait_for(state="detached")
    assert api.get(f"{SYMBOLS}/{symbol}").status_code == 404

    page.goto(f"{stack.api_url}/#/backtest/{backtest['id']}")
    page.wait_for_selector("body[data-drawn=true]")
    screenshot(page, "result-without-its-bars")
    result = backtest["result"]
    assert page.text_content("[data-statistic=total_trades]") == f"{result['total_trades']:,}"
    assert page.text_content("[data-input=Symbol]") == f"{symbol} 1d"
    capital = page.text_content("[data-input='Initial capital']")
    assert capital == f"{result['initial_capital']:,.2f}"
    equity = page.evaluate("() => document.getElementById('chart-equity').data[0].y")
    assert equity == result["equity_curve"]["equity"]
    assert page.locator("#trades tbody tr").count() == min(50, result["total_trades"])
    gone = page.text_content("#candles-gone")
    assert gone is not None
    assert f"The bars of {symbol} are no longer stored" in gone

    page.goto(f"{stack.api_url}/#/strategy/{strategy['id']}")
    page.wait_for_selector("#run-backtest")
    shown = page.eval_on_selector(
        "#strategy-form select[name=symbol]", "s => s.selectedOptions[0].text"
    )
    assert shown == f"{symbol} (bars deleted)"
    page.click("#run-backtest")
    page.wait_for_selector(f".message.bad:has-text('No bars are stored for {symbol} any more')")

    # Imported again: the candles are back, said to be newer bars than the run's.
    csv = {"Content-Type": "text/csv"}
    again = api.post(f"{SYMBOLS}/{symbol}", content=daily_csv(400), headers=csv)
    assert again.status_code == 201, again.text
    page.goto(f"{stack.api_url}/#/backtest/{backtest['id']}")
    page.wait_for_selector("body[data-drawn=true]")
    replaced = page.text_content("#candles-replaced")
    assert replaced is not None
    assert "it used version 1, version 2 is stored" in replaced
    assert page.locator("#chart-candles canvas").count() > 0
    assert page.locator("#candles-gone").count() == 0


def test_the_timeframe_follows_the_symbol_chosen_unless_the_member_picked_one_it_can_make(
    page: Any, member: tuple[str, str], stack: Stack
) -> None:
    name, _ = member
    sign_in(page, name)

    page.click("text=New strategy")
    form = page.locator("#strategy-form")
    form.wait_for()
    symbol, timeframe = form.locator("select[name=symbol]"), form.locator("select[name=timeframe]")
    symbol.select_option("EURUSD")
    hourly = timeframe.input_value()
    timeframe.select_option("4h")  # the member's choice, which hourly bars can make
    symbol.select_option("GOOG")
    daily = timeframe.input_value()  # daily bars cannot make 4h ones
    symbol.select_option("EURUSD")

    assert (hourly, daily) == ("1h", "1d")
    assert timeframe.input_value() == "1d"  # the member picks, so one hourly bars make stays
    page.fill("input[name=name]", "Hourly")
    symbol.select_option("EURUSD")
    timeframe.select_option("1h")
    page.click("button:has-text('Create')")
    page.wait_for_selector("#run-form")
    run_form = page.locator("#run-form")
    assert run_form.locator("select[name=timeframe]").input_value() == "1h"
    run_form.locator("select[name=symbol]").select_option("GOOG")
    assert run_form.locator("select[name=timeframe]").input_value() == "1d"


def test_a_new_strategy_has_no_symbol_until_one_is_chosen(
    page: Any, member: tuple[str, str], stack: Stack
) -> None:
    name, token = member
    short = upload_symbol(client(stack, token), days=13)
    sign_in(page, name)

    page.click("text=New strategy")
    select = page.locator("#strategy-form select[name=symbol]")
    select.wait_for()
    assert select.input_value() == ""
    options = select.locator("option").all_text_contents()
    assert options[0] == "Choose a symbol"
    assert "GOOG (1d, sample data)" in options
    assert f"{short} (1d, {name})" in options
    page.fill("input[name=name]", "Too short")
    page.click("button:has-text('Create')")
    page.wait_for_selector(".message.bad:has-text('Choose a symbol.')")
    assert page.url.endswith("#/strategy/new")

    # 13 bars, and a slow average of 30: the run is refused, saying why.
    select.select_option(short)
    page.fill("input[name=parameters]", "fast=10, slow=30")
    page.click("button:has-text('Create')")
    page.wait_for_selector("#run-backtest")
    page.click("#run-backtest")
    refusal = page.wait_for_selector(".message.bad:has-text('needs 31 1d bars')")
    take_console_error(page, "422 (Unprocessable Entity)")
    assert (
        "rules.long_entry: crossover needs 31 1d bars for a first value" in refusal.text_content()
    )
    assert f"{short} has at most 13" in refusal.text_content()


def test_strategies_are_renamed_and_deleted_and_backtests_deleted_after_asking(
    page: Any, member: tuple[str, str], stack: Stack
) -> None:
    name, token = member
    api = client(stack, token)
    strategy, backtests = strategy_with_backtests(api, 2, name="Old name")
    sign_in(page, name)
    page.goto(f"{stack.api_url}/#/strategy/{strategy['id']}")
    page.wait_for_selector("#rename-strategy")

    page.click("#rename-strategy")
    page.fill("dialog[open] input[name=dialog-field]", "New name")
    page.click("dialog[open] button:has-text('Rename')")
    page.wait_for_selector("h1:text-is('New name')")
    assert api.get(f"/api/strategy/{strategy['id']}").json()["name"] == "New name"

    page.click(f"[data-delete-backtest='{backtests[0]['id']}']")
    asked = page.locator("dialog[open]")
    trades = backtests[0]["result"]["total_trades"]
    assert f"its {trades} trades go with it. Its strategy stays." in asked.text_content()
    asked.locator("button:has-text('Cancel')").click()
    assert api.get(f"/api/backtest/{backtests[0]['id']}").status_code == 200
    page.click(f"[data-delete-backtest='{backtests[0]['id']}']")
    page.click("dialog[open] button:has-text('Delete backtest')")
    page.locator(f"[data-delete-backtest='{backtests[0]['id']}']").wait_for(state="detached")
    assert api.get(f"/api/backtest/{backtests[0]['id']}").status_code == 404

    page.click("#delete-strategy")
    asked = page.locator("dialog[open]")
    assert "Its 1 backtest (optimizations included) goes with it" in asked.text_content()
    screenshot(page, "delete-strategy")
    asked.locator("button:has-text('Delete strategy')").click()
    page.wait_for_selector("h1:text-is('Strategies')")
    assert api.get(f"/api/strategy/{strategy['id']}").status_code == 404
    assert api.get(f"/api/backtest/{backtests[1]['id']}").status_code == 404


def test_the_nav_waits_for_sign_in_and_rule_boxes_grow(page: Any, member: tuple[str, str]) -> None:
    name, _ = member
    page.wait_for_selector("button[type=submit]")
    assert not page.is_visible("#nav")
    sign_in(page, name)
    assert page.is_visible("#nav")

    page.click("text=New strategy")
    rule = page.locator("textarea[name=long_exit]")
    rule.fill("close < open")
    one_line = rule.bounding_box()["height"]
    long_rule = " and ".join(f"close > sma(close, {n})" for n in range(5, 60, 5))
    rule.fill(long_rule + "\nor crossunder(sma(close, fast), sma(close, slow))")
    grown = rule.evaluate("r => [r.clientHeight, r.scrollHeight]")
    assert grown[0] > 2 * one_line
    assert grown[1] <= grown[0] + 1  # nothing clipped
    page.set_viewport_size({"width": 390, "height": 844})
    narrow = rule.evaluate("r => [r.clientHeight, r.scrollHeight]")
    assert narrow[0] > grown[0]
    assert narrow[1] <= narrow[0] + 1


def test_the_heatmap_tells_its_values_and_the_ranking_sorts_by_a_header(
    page: Any, member: tuple[str, str], stack: Stack
) -> None:
    name, token = member
    api = client(stack, token)
    strategy = api.post("/api/strategy", json=strategy_fields(name="Heat")).json()
    sweep = {"grid": {"fast": [5, 10, 15, 20], "slow": [30, 40, 50]}}
    started = api.post(
        f"/api/strategy/{strategy['id']}/optimize", json=backtest_params(sweep=sweep)
    ).json()
    optimization = wait_for_backtest(api, started["id"])["optimization"]
    sign_in(page, name)
    page.goto(f"{stack.api_url}/#/backtest/{started['id']}")
    page.wait_for_selector("body[data-drawn=true]")

    heatmap = optimization["heatmap"]
    box = page.locator("#chart-heatmap canvas").bounding_box()
    cell_w = (box["width"] - 64 - 70) / len(heatmap["x_values"])
    cell_h = (box["height"] - 26 - 30) / len(heatmap["y_values"])
    page.mouse.move(box["x"] + 64 + 1.5 * cell_w, box["y"] + box["height"] - 30 - 2.5 * cell_h)
    tip = page.locator("#chart-heatmap .chart-tip")
    tip.wait_for()
    screenshot(page, "heatmap-hover")
    where, value = tip.text_content().split(": ")
    assert where == f"fast {heatmap['x_values'][1]}, slow {heatmap['y_values'][2]}"
    objective = optimization["objective"].replace("_", " ")
    assert value.startswith(objective + " ")
    expected = heatmap["values"][2][1]
    assert float(value.removeprefix(objective + " ").replace(",", "")) == pytest.approx(
        expected, abs=1e-4
    )

    def returns() -> list[float]:
        cells = page.locator("#ranking tbody tr td:nth-child(5)").all_text_contents()
        return [float(cell.removesuffix(" %")) for cell in cells]

    page.click("#ranking th button[data-sort=total_return]")
    page.wait_for_selector("#ranking th button[data-sort=total_return][aria-pressed=true]")
    largest_first = returns()
    page.click("#ranking th button[data-sort=total_return]")
    page.wait_for_selector("#ranking th button[data-sort=total_return]:has-text('▲')")
    smallest_first = returns()

    assert len(largest_first) == 12
    assert largest_first == sorted(largest_first, reverse=True)
    assert smallest_first == sorted(smallest_first)

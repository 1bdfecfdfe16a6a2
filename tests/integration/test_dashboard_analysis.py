"""A result page's analysis in a real Chromium: the monthly returns table, the worst
drawdowns, the long / short split, the rolling Sharpe chart on the page's time axis and
the per-trade columns, as the API gives them, at desktop and phone width, with no
console error (the `page` fixture checks that)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from browser_pages import screenshot, sign_in
from helpers import Stack, both_sides_backtest

pytestmark = pytest.mark.integration


def _percent(value: float) -> str:
    text = f"{value * 100:.2f}"
    return f"{'0.00' if text == '-0.00' else text} %"


def test_a_result_page_shows_the_analysis(page: Any, member: tuple[str, str], stack: Stack) -> None:
    name, token = member
    api = httpx.Client(base_url=stack.api_url, headers={"Authorization": f"Bearer {token}"})
    backtest = both_sides_backtest(api)
    result = backtest["result"]
    analysis = result["analysis"]
    sign_in(page, name)

    page.goto(f"{stack.api_url}/#/backtest/{backtest['id']}")
    page.wait_for_selector("body[data-drawn=true]")
    page.locator("#monthly-returns").scroll_into_view_if_needed()
    screenshot(page, "analysis-result")

    years = page.locator("#monthly-returns tbody tr")
    assert years.count() == len(analysis["yearly_returns"])
    first_year = years.first.locator("td")
    january = analysis["monthly_returns"][0]
    assert first_year.nth(0).text_content() == str(january["year"])
    assert first_year.nth(january["month"]).text_content() == _percent(january["return_fraction"])
    assert first_year.nth(13).text_content() == _percent(
        analysis["yearly_returns"][0]["return_fraction"]
    )

    drawdowns = page.locator("#worst-drawdowns tbody tr")
    assert drawdowns.count() == 5
    deepest = analysis["worst_drawdowns"][0]
    cells = drawdowns.first.locator("td")
    assert cells.nth(1).text_content() == deepest["start"][:16].replace("T", " ")
    assert cells.nth(4).text_content() == _percent(deepest["depth"])

    trades_row = page.locator("#side-split tbody tr").first.locator("td")
    sides = analysis["sides"]
    assert [trades_row.nth(k).text_content() for k in range(4)] == [
        "trades",
        f"{sides['all']['trades']:,}",
        f"{sides['long']['trades']:,}",
        f"{sides['short']['trades']:,}",
    ]

    sharpe = page.evaluate("() => document.getElementById('chart-sharpe').data[0]")
    assert sharpe["x"] == analysis["rolling_sharpe"]["time"]
    assert sharpe["y"] == analysis["rolling_sharpe"]["sharpe"]

    headers = page.locator("#trades thead th").all_text_contents()
    assert headers[-6:] == ["Duration", "Size", "Notional", "Commission", "Run-up", "Drawdown"]
    first_trade = result["trades"][0]
    row = page.locator("#trades tbody tr").first.locator("td").all_text_contents()
    assert row[-2:] == [_percent(first_trade["run_up"]), _percent(first_trade["drawdown"])]
    assert row[-3] == f"{first_trade['commission']:,.2f}"

    page.set_viewport_size({"width": 390, "height": 844})
    page.locator("#side-split").scroll_into_view_if_needed()
    screenshot(page, "analysis-result-at-phone-width")
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 400

"""The dashboard in a real Chromium (Debian's `chromium`, driven by Playwright), as a
member uses it: sign in, write a rule with a typo and read the message, fix it, run and
watch the progress move, see the charts with a marker for every trade and the same
statistics as the API, optimize and see the heatmap, download the report; at desktop
and at phone width, with no error in the page's console. Screenshots are kept in
test-artifacts/screenshots/."""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from browser_pages import SCREENSHOTS, screenshot, sign_in
from helpers import (
    Stack,
    backtest_params,
    long_run_params,
    minute_walk,
    strategy_fields,
    wait_for_backtest,
)
from pymongo.database import Database

from backend_services.market_data.importer import import_bars
from shared.mongo import Document

pytestmark = pytest.mark.integration

# Every value the progress bar takes, as the page draws it.
_RECORD_PROGRESS = """() => {
  window.progressSeen = [];
  new MutationObserver((changes) => {
    for (const change of changes) {
      if (change.target.id === "progress") window.progressSeen.push(Number(change.target.value));
    }
  }).observe(document.body, { subtree: true, attributes: true, attributeFilter: ["value"] });
}"""


@pytest.fixture
def fresh_symbol(db: Database[Document]) -> str:
    """A million minute bars no worker has cached yet: the first backtest on them reads
    them from MongoDB, and its progress moves while it does."""
    symbol = f"DASH{uuid.uuid4().hex[:6].upper()}"
    import_bars(db, symbol, minute_walk(1_000_000, seed=3))
    return symbol


def test_a_member_writes_runs_and_reads_a_backtest(
    page: Any, member: tuple[str, str], stack: Stack, fresh_symbol: str
) -> None:
    name, token = member
    api = httpx.Client(base_url=stack.api_url, headers={"Authorization": f"Bearer {token}"})
    sign_in(page, name)
    screenshot(page, "1-strategies")

    page.click("text=New strategy")
    page.fill("input[name=name]", "Browser SMA")
    page.select_option("select[name=symbol]", fresh_symbol)
    page.select_option("select[name=timeframe]", "1m")
    page.fill("input[name=parameters]", "fast=200, slow=800")
    page.fill("textarea[name=long_entry]", "crossover(smaa(close, fast), sma(close, slow))")
    typo = page.wait_for_selector(".message.bad:has-text('did you mean')")
    assert "unknown function 'smaa' at 1:11, did you mean 'sma'?" in typo.text_content()
    screenshot(page, "2-rule-with-a-typo")
    page.fill("textarea[name=long_entry]", "crossover(sma(close, fast), sma(close, slow))")
    page.wait_for_selector(".message.good:has-text('valid')")
    page.click("button:has-text('Create')")
    page.wait_for_selector("#run-backtest")

    page.evaluate(_RECORD_PROGRESS)
    page.click("#run-backtest")
    page.wait_for_selector("body[data-drawn=true]")
    screenshot(page, "3-result")
    seen = page.evaluate("() => window.progressSeen")

    backtest_id = page.url.rsplit("/", 1)[-1]
    result = api.get(f"/api/backtest/{backtest_id}").json()["result"]
    assert any(0 < value < 100 for value in seen), seen  # it moved, live
    assert seen == sorted(seen), seen
    markers = page.evaluate(
        "() => document.getElementById('chart-candles').data.slice(1).map(t => t.x.length)"
    )
    assert markers == [result["total_trades"], result["total_trades"]]
    equity_points = page.evaluate("() => document.getElementById('chart-equity').data[0].x.length")
    assert equity_points == len(result["equity_curve"]["time"])
    shown = page.text_content("[data-statistic=total_return]")
    assert shown == f"{result['total_return'] * 100:.2f} %"
    assert page.text_content("[data-statistic=total_trades]") == f"{result['total_trades']:,}"

    with page.expect_download() as download:
        page.click("#download-report")
    report = Path(download.value.path()).read_text()
    (SCREENSHOTS.parent / "report.html").write_text(report)
    assert report.count("<svg") == 3  # equity, drawdown, rolling Sharpe

    page.set_viewport_size({"width": 390, "height": 844})
    screenshot(page, "4-result-at-phone-width")
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 400


def test_the_rule_editor_suggests_names_and_shows_the_signature(
    page: Any, member: tuple[str, str]
) -> None:
    name, _ = member
    sign_in(page, name)
    page.click("text=New strategy")
    page.fill("input[name=name]", "Suggested")
    page.select_option("select[name=symbol]", "GOOG")
    rule = page.locator("textarea[name=long_entry]")
    rule.fill("")

    rule.press_sequentially("stoch_s")
    suggested = page.locator("#long_entry-suggestions li")
    suggested.first.wait_for()
    names = suggested.evaluate_all("items => items.map((item) => item.dataset.name)")
    rule.press("ArrowDown")
    rule.press("Enter")
    picked = rule.input_value()
    signature = page.locator("textarea[name=long_entry] ~ .signature").text_content()
    rule.press_sequentially("high, low, close) > 80 and cdleng")
    page.click("#long_entry-suggestions li[data-name=cdlengulfing_bullish]")
    rule.press_sequentially("open, high, low, close)")
    screenshot(page, "rule-suggestions")

    assert names == ["stoch_slowd", "stoch_slowk"]
    assert picked == "stoch_slowk("
    assert signature is not None
    assert signature.startswith("stoch_slowk(high, low, close, fastk_period=5, slowk_period=3")
    assert rule.input_value() == (
        "stoch_slowk(high, low, close) > 80 and cdlengulfing_bullish(open, high, low, close)"
    )
    page.wait_for_selector(".message:has-text('valid')")
    assert page.locator(".message").first.text_content() == "The rules are valid."


def open_new_strategy(
    page: Any, member: tuple[str, str], stack: Stack, strategy_name: str
) -> httpx.Client:
    """Sign the member in and open the page of a new strategy of theirs; their API client."""
    name, token = member
    api = httpx.Client(base_url=stack.api_url, headers={"Authorization": f"Bearer {token}"})
    strategy = api.post("/api/strategy", json=strategy_fields(name=strategy_name)).json()
    sign_in(page, name)
    page.goto(f"{stack.api_url}/#/strategy/{strategy['id']}")
    return api


def test_an_optimization_shows_its_heatmap_and_ranking(
    page: Any, member: tuple[str, str], stack: Stack
) -> None:
    open_new_strategy(page, member, stack, "Sweep me")
    page.fill("input[name=grid]", "fast=5:20:5; slow=30,40,50")
    page.fill("input[name=constraint]", "fast < slow")
    page.click("#run-optimization")
    page.wait_for_selector("body[data-drawn=true]")
    screenshot(page, "5-optimization")

    heatmap = page.evaluate(
        "() => { const t = document.getElementById('chart-heatmap').data[0];"
        " return [t.type, t.x.length, t.y.length]; }"
    )
    assert heatmap == ["heatmap", 4, 3]
    rows = page.locator("#ranking tbody tr")
    assert rows.count() == 12
    assert rows.first.locator("td").first.text_content() == "1"
    best = page.text_content("#best-parameters")
    # The numbers on the page are the best combination's: so are the parameters it names.
    parameters = page.text_content("[data-input=Parameters]")
    assert parameters == f"the best: {best} (the strategy's own: fast=10, slow=30)"

    optimization_url = page.url
    page.click("#open-best")
    page.wait_for_function(f"() => location.href !== {optimization_url!r}")
    page.wait_for_selector("body[data-drawn=true]")
    assert page.text_content("h1") == "Backtest"


def test_a_tpe_search_shows_its_trials_and_how_likely_its_winner_is_luck(
    page: Any, member: tuple[str, str], stack: Stack
) -> None:
    api = open_new_strategy(page, member, stack, "Search me")
    page.select_option("select[name=method]", "tpe")
    page.fill("input[name=ranges]", "fast=2:20; slow=25:60:5")
    page.fill("input[name=trials]", "15")
    page.click("#run-optimization")
    page.wait_for_selector("body[data-drawn=true]")
    screenshot(page, "5b-search")

    backtest = api.get(f"/api/backtest/{page.url.rsplit('/', 1)[-1]}").json()
    optimization = backtest["optimization"]
    trials = page.evaluate(
        "() => document.getElementById('chart-trials').data.map((t) => [t.type, t.y])"
    )
    objectives = optimization["trial_objectives"]
    assert (optimization["method"], len(objectives)) == ("tpe", 15)
    assert trials[0] == ["markers", objectives]
    assert trials[1][1][-1] == max(v for v in objectives if v is not None)
    dsr, pbo = optimization["deflated_sharpe"]["value"], optimization["pbo"]["value"]
    assert f"{dsr * 100:.2f} %" in page.text_content("#deflated-sharpe")
    assert "the luckiest of 15 tries" in page.text_content("#deflated-sharpe")
    assert f"{pbo * 100:.2f} %" in page.text_content("#pbo")
    assert "TPE search: 15 trials" in page.text_content("#search-summary")


def test_a_walk_forward_shows_its_windows_and_both_curves_side_by_side(
    page: Any, member: tuple[str, str], stack: Stack
) -> None:
    name, token = member
    api = httpx.Client(base_url=stack.api_url, headers={"Authorization": f"Bearer {token}"})
    strategy = api.post("/api/strategy", json=strategy_fields(name="Walk me")).json()
    sign_in(page, name)

    page.goto(f"{stack.api_url}/#/strategy/{strategy['id']}")
    page.fill("input[name=grid]", "fast=5,10; slow=30,40")
    page.fill("input[name=wf_train]", "730d")
    page.fill("input[name=wf_test]", "365d")
    page.click("#run-optimization")
    page.wait_for_selector("body[data-drawn=true]")
    screenshot(page, "5b-walk-forward")

    backtest = api.get(f"/api/backtest/{page.url.rsplit('/', 1)[1]}").json()
    windows = backtest["walk_forward"]["windows"]
    assert backtest["validation"] == {
        "mode": "rolling",
        "train": "730d",
        "test": "365d",
        "step": None,
    }
    rows = page.locator("#walk-forward-windows tbody tr")
    assert rows.count() == len(windows) > 1
    assert "Walk-forward efficiency" in page.text_content("#walk-forward-efficiency")
    points = page.evaluate(
        "() => ['chart-out-of-sample', 'chart-in-sample'].map("
        "(id) => document.getElementById(id).data[0].x.length)"
    )
    curve = backtest["walk_forward"]["in_sample_curve"]
    assert points == [len(backtest["result"]["equity_curve"]["time"]), len(curve["time"])]
    beside = page.evaluate(
        "() => ['chart-out-of-sample', 'chart-in-sample'].map("
        "(id) => document.getElementById(id).getBoundingClientRect().top)"
    )
    assert beside[0] == beside[1]  # at desktop width, side by side

    page.goto(f"{stack.api_url}/#/strategy/{strategy['id']}")
    listed = page.locator("section:has(h2:text('Backtests')) tbody tr").first
    assert "walk-forward" in listed.text_content()


def test_sign_out_revokes_the_token_on_the_server(
    page: Any, member: tuple[str, str], stack: Stack
) -> None:
    name, _ = member
    sign_in(page, name)
    token = page.evaluate("() => localStorage.getItem('botclub.token')")
    assert httpx.get(
        f"{stack.api_url}/api/me", headers={"Authorization": f"Bearer {token}"}
    ).is_success

    page.click("#sign-out")
    page.wait_for_selector("button[type=submit]")

    after = httpx.get(f"{stack.api_url}/api/me", headers={"Authorization": f"Bearer {token}"})
    assert after.status_code == 401
    assert page.evaluate("() => localStorage.getItem('botclub.token')") is None


def test_the_api_docs_page_works_offline(page: Any, stack: Stack) -> None:
    page.route(
        "**/*",
        lambda route: route.abort() if "127.0.0.1" not in route.request.url else route.continue_(),
    )

    page.goto(stack.api_url + "/docs")
    page.wait_for_selector("text=Start a backtest")

    screenshot(page, "6-api-docs")


def test_uploads_show_their_problems_by_row_and_backtests_compare(
    page: Any, member: tuple[str, str], stack: Stack, tmp_path: Path
) -> None:
    name, token = member
    api = httpx.Client(base_url=stack.api_url, headers={"Authorization": f"Bearer {token}"})
    strategy = api.post("/api/strategy", json=strategy_fields(name="Compare me")).json()
    started = [
        api.post(
            f"/api/strategy/{strategy['id']}/backtest",
            json=backtest_params(parameters={"fast": fast}),
        ).json()["id"]
        for fast in (5, 10, 15)
    ]
    for backtest_id in started:
        wait_for_backtest(api, backtest_id)
    bad = tmp_path / "bad.csv"
    bad.write_text("date,open,high,low,close\n2020-01-01,1,2,0.5,1\n2020-01-02,1,2,0.5,-1\n")
    sign_in(page, name)

    page.click("nav >> text=Market data")
    page.fill("#upload-form input[name=symbol]", f"BAD{uuid.uuid4().hex[:4].upper()}")
    page.set_input_files("#upload-form input[name=file]", str(bad))
    page.click("#upload-form button[type=submit]")
    problem = page.wait_for_selector("#import-report tbody tr")
    screenshot(page, "7-upload-refused")
    # The refusal (422) is the answer this upload is for: the browser logs its status.
    page.console_errors.remove(
        "Failed to load resource: the server responded with a status of 422 (Unprocessable Entity)"
    )
    cells = [cell.text_content() for cell in problem.query_selector_all("td")]
    assert cells[2] == "2"  # the row, numbered from the first data row

    page.goto(f"{stack.api_url}/#/strategy/{strategy['id']}")
    chosen = "input[type=checkbox][aria-label^='select ']"  # the upload form has one too
    page.wait_for_selector(chosen)
    checkboxes = page.locator(chosen).all()
    assert len(checkboxes) == 3
    for checkbox in checkboxes:
        checkbox.check()
    page.click("button:has-text('Compare selected')")
    page.wait_for_selector("#chart-compare canvas")
    screenshot(page, "8-compare")
    curves = page.evaluate("() => document.getElementById('chart-compare').data.length")
    assert curves == 3
    header = page.locator("#compare-inputs ~ .table-wrap thead th").all_text_contents()
    assert len(header) == 4  # the statistic, then one column per backtest


def _visible_range(page: Any, chart_id: str) -> dict[str, float]:
    range_: dict[str, float] = page.evaluate(
        f"() => document.getElementById('{chart_id}').chart.timeScale().getVisibleRange()"
    )
    return range_


def test_the_charts_zoom_into_finer_candles_move_together_and_follow_a_trade(
    page: Any, member: tuple[str, str], stack: Stack, fresh_symbol: str
) -> None:
    name, token = member
    api = httpx.Client(base_url=stack.api_url, headers={"Authorization": f"Bearer {token}"})
    fields = strategy_fields(name="Zoom me", symbol=fresh_symbol, timeframe="1m")
    strategy = api.post("/api/strategy", json=fields).json()
    started = api.post(f"/api/strategy/{strategy['id']}/backtest", json=long_run_params()).json()
    result = wait_for_backtest(api, started["id"], timeout_s=120)["result"]
    sign_in(page, name)
    page.goto(f"{stack.api_url}/#/backtest/{started['id']}")
    page.wait_for_selector("body[data-drawn=true]")
    candles = page.locator("#chart-candles")
    coarse = page.evaluate("() => document.getElementById('chart-candles').data[0].x.slice()")
    assert len(coarse) <= 2000

    # Hovering shows the values under the pointer.
    candles.scroll_into_view_if_needed()
    box = candles.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    legend = page.locator("#chart-candles .chart-legend")
    assert re.search(r"O [\d,.]+ H [\d,.]+ L [\d,.]+ C [\d,.]+", legend.text_content() or "")
    # The rules' indicators are drawn over the candles, their values in the legend too.
    lines = page.evaluate("() => document.getElementById('chart-candles').lineNames")
    assert lines == ["sma(close, 200)", "sma(close, 800)"]
    assert re.search(r"sma\(close, 800\) [\d,.]+", legend.text_content() or "")
    # The crosshair stands at that time in the other charts: their legends say their values.
    for other in ("chart-equity", "chart-drawdown"):
        text = page.locator(f"#{other} .chart-legend").text_content() or ""
        assert re.search(r"\d", text), (other, text)
    # One time axis: every plot as wide, so a time sits at one x in each.
    widths = page.evaluate(
        "() => ['chart-equity', 'chart-drawdown', 'chart-candles'].map("
        "(id) => document.getElementById(id).chart.priceScale('right').width())"
    )
    assert len(set(widths)) == 1, widths
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] - 40)  # off the charts
    assert not re.search(r"\d", page.locator("#chart-equity .chart-legend").text_content() or "")
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)

    # Zooming in far asks for finer candles: more of them in view than the first answer held.
    for _ in range(30):
        page.mouse.wheel(0, -600)
    page.wait_for_function("() => document.getElementById('chart-candles').data[0].x.length > 2000")
    shown = _visible_range(page, "chart-candles")
    coarse_in_view = sum(
        shown["from"] <= datetime.fromisoformat(time).timestamp() <= shown["to"] for time in coarse
    )
    visible = page.evaluate("() => document.getElementById('chart-candles').visibleCandles()")
    assert visible > 1.5 * coarse_in_view, (visible, coarse_in_view)

    # The equity and drawdown charts show the same stretch of time.
    equity = _visible_range(page, "chart-equity")
    span = shown["to"] - shown["from"]
    assert abs(equity["from"] - shown["from"]) < span * 0.05
    assert abs(equity["to"] - shown["to"]) < span * 0.05

    # A trade's row moves every chart to it (the equity curve's points are sparser than
    # the candles: its view overlaps the trade).
    first = result["trades"][0]
    entry, exit_ = (
        datetime.fromisoformat(first[time]).timestamp() for time in ("entry_time", "exit_time")
    )
    whole = (
        datetime.fromisoformat(coarse[-1]).timestamp()
        - datetime.fromisoformat(coarse[0]).timestamp()
    )
    page.locator("#trades tbody tr").first.locator("button").click()
    page.wait_for_function(
        "([entry, exit, whole]) => ['chart-equity', 'chart-candles'].every((id) => {"
        " const r = document.getElementById(id).chart.timeScale().getVisibleRange();"
        " const around = id === 'chart-candles' ? r.from <= entry && entry <= r.to"
        " : r.from <= exit && entry <= r.to;"
        " return r && around && r.to - r.from < whole / 10; })",
        arg=[entry, exit_, whole],
    )

    # From the keyboard: 0 shows everything again, on every chart.
    page.focus("#chart-drawdown")
    page.keyboard.press("0")
    page.wait_for_function(
        "(whole) => ['chart-equity', 'chart-candles'].every((id) => {"
        " const r = document.getElementById(id).chart.timeScale().getVisibleRange();"
        " return r && r.to - r.from > whole * 0.9; })",
        arg=whole,
    )


def test_a_portfolio_shows_its_contributions_and_correlations(
    page: Any, member: tuple[str, str], stack: Stack
) -> None:
    api = open_new_strategy(page, member, stack, "Basket")
    page.fill("input[name=start]", "2004-01-01")
    page.fill("input[name=end]", "2018-12-31")
    page.fill("input[name=portfolio]", "GOOG, EURUSD")
    page.fill("input[name=weights]", "0.7, 0.3")
    page.fill("input[name=rebalance]", "4 weeks")
    page.click("#run-backtest")
    page.wait_for_selector("body[data-drawn=true]")
    screenshot(page, "7-portfolio")

    shares = page.locator("#portfolio-contributions tbody tr")
    assert [shares.nth(i).locator("td").first.text_content() for i in range(2)] == [
        "GOOG",
        "EURUSD",
    ]
    assert page.text_content("[data-input=Portfolio]") == "GOOG, EURUSD 1d"
    cells = page.locator("#portfolio-correlation [data-correlation]")
    diagonal = [cells.nth(i).text_content() for i in (0, 3)]
    assert diagonal == ["1.00", "1.00"]
    backtest = api.get(f"/api/backtest/{page.url.rsplit('/', 1)[-1]}").json()
    part = backtest["result"]["portfolio"]
    assert [share["weight"] for share in part["symbols"]] == [0.7, 0.3]
    assert part["rebalance"] == {"every": 4, "unit": "weeks"}
    assert "symbol" not in backtest["params"] or backtest["params"]["symbol"] is None

"""Every run says what produced it (symbol, timeframe, range, parameters, rules, orders,
sizing, costs, data version, and whether it came from the cache) in the API, the
report, the CSV exports' header lines, the result page, each row of a strategy's
backtests and the compare view; numbers read as the one formatter says; uploads show
their progress, keep their report and say what is wrong in words."""

from __future__ import annotations

import csv
import io
import re
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from browser_pages import screenshot, sign_in
from formatting_cases import CASES
from helpers import Stack, backtest_params, daily_csv, strategy_fields, wait_for_backtest

from shared.formatting import KINDS

pytestmark = pytest.mark.integration

RULE = "crossover(sma(close, fast), sma(close, slow))"
DESCRIBED = {
    "Symbol": "GOOG 1d",
    "Rules": f"long_entry: {RULE}; long_exit: {RULE.replace('crossover', 'crossunder')}",
    "Orders": "fills at the next open, stop loss 5.00 %",
    "Sizing": "2,500.00 per entry",
    "Costs": "commission 0.10 %, fee 0.00 per fill, slippage 0.05 %",
}
GAP_PX = 4  # at least this much room between a statistic's name and its value
MONEY = re.compile(r"^-?\d{1,3}(,\d{3})*\.\d{2}$")
PERCENT = re.compile(r"^-?\d{1,3}(,\d{3})*\.\d{2} %$")


def _described_strategy() -> dict[str, Any]:
    return strategy_fields(
        name=f"Described {uuid.uuid4().hex[:6]}",
        orders={"stop_loss_pct": 0.05, "sizing": {"kind": "fixed_cash", "value": 2500}},
        costs={"commission_pct": 0.001, "slippage_pct": 0.0005},
    )


def _run(api: httpx.Client, strategy_id: str, params: dict[str, Any]) -> dict[str, Any]:
    started = api.post(f"/api/strategy/{strategy_id}/backtest", json=params)
    assert started.status_code == 202, started.text
    return wait_for_backtest(api, started.json()["id"])


def _csv_parts(text: str) -> tuple[dict[str, str], list[dict[str, str]]]:
    """The "# name: text" lines before the header, and the rows after it."""
    lines = text.splitlines()
    described = [line for line in lines if line.startswith("# ")]
    assert lines[: len(described)] == described  # all of them first
    facts = dict(line[2:].split(": ", 1) for line in described)
    return facts, list(csv.DictReader(io.StringIO("\n".join(lines[len(described) :]))))


def test_the_api_report_and_csv_files_describe_the_run(api: httpx.Client) -> None:
    strategy = api.post("/api/strategy", json=_described_strategy()).json()
    params = backtest_params(parameters={"fast": 8})
    first = _run(api, strategy["id"], params)
    again = _run(api, strategy["id"], params)  # identical: answered from the cache
    assert first["status"] == again["status"] == "completed"
    assert first["strategy"]["orders"]["sizing"] == {"kind": "fixed_cash", "value": 2500.0}
    assert first["strategy"]["rules"]["long_entry"] == RULE
    assert isinstance(first["data_version"], int)
    listed = api.get(f"/api/strategy/{strategy['id']}/backtests").json()
    assert {row["data_version"] for row in listed} == {first["data_version"]}
    assert all(row["strategy"]["costs"]["slippage_pct"] == 0.0005 for row in listed)

    report = api.get(f"/api/backtest/{first['id']}/report.html").text
    inputs = report[report.index('id="run-inputs"') : report.index("<h2>Equity")]
    for name, text in DESCRIBED.items():
        assert f"<th>{name}</th><td>{text}</td>" in inputs.replace("&#x27;", "'"), name
    assert "fast=8, slow=30" in inputs
    assert f"<th>Data version</th><td>{first['data_version']}</td>" in inputs
    assert "from the cache" not in inputs
    cached = api.get(f"/api/backtest/{again['id']}/report.html").text
    assert "<th>Served</th><td>from the cache" in cached

    facts, rows = _csv_parts(api.get(f"/api/backtest/{first['id']}/trades.csv").text)
    assert {name: facts[name] for name in DESCRIBED} == DESCRIBED
    assert facts["Parameters"] == "fast=8, slow=30"
    assert facts["Data version"] == str(first["data_version"])
    assert facts["Range"].startswith("2005-01-03 00:00 to 2012-12-31 00:00 (")
    assert len(rows) == first["result"]["total_trades"]
    assert float(rows[0]["pnl"]) == pytest.approx(first["result"]["trades"][0]["pnl"])


def test_a_ranking_csv_says_what_was_swept(api: httpx.Client) -> None:
    strategy = api.post("/api/strategy", json=_described_strategy()).json()
    sweep = {"grid": {"fast": [5, 8, 12]}, "objective": "sharpe_ratio"}
    started = api.post(
        f"/api/strategy/{strategy['id']}/optimize", json=backtest_params() | {"sweep": sweep}
    )
    assert started.status_code == 202, started.text
    assert wait_for_backtest(api, started.json()["id"])["status"] == "completed"
    facts, rows = _csv_parts(api.get(f"/api/backtest/{started.json()['id']}/ranking.csv").text)
    assert facts["Swept"] == "fast (3 values), ranked by sharpe ratio"
    assert facts["Costs"] == DESCRIBED["Costs"]
    assert [row["rank"] for row in rows] == ["1", "2", "3"]
    # Its numbers are the best combination's: the description says which, every place.
    best = {"fast": float(rows[0]["fast"]), "slow": 30.0}
    said = f"the best: fast={best['fast']:g}, slow=30 (the strategy's own: fast=10, slow=30)"
    assert facts["Parameters"] == said
    trades_facts, _ = _csv_parts(api.get(f"/api/backtest/{started.json()['id']}/trades.csv").text)
    assert trades_facts["Parameters"] == said
    [listed] = api.get(f"/api/strategy/{strategy['id']}/backtests").json()
    assert listed["best_parameters"] == best


def _boxes(page: Any, selector: str) -> list[dict[str, float]]:
    boxes: list[dict[str, float]] = page.evaluate(
        """(selector) => [...document.querySelectorAll(selector)].map((node) => {
          const box = node.getBoundingClientRect();
          return { left: box.left, right: box.right, top: box.top, bottom: box.bottom };
        })""",
        selector,
    )
    return boxes


def _overlap(a: dict[str, float], b: dict[str, float]) -> bool:
    return (
        min(a["right"], b["right"]) - max(a["left"], b["left"]) > 0.5
        and min(a["bottom"], b["bottom"]) - max(a["top"], b["top"]) > 0.5
    )


def _assert_tiles_apart(page: Any) -> None:
    tiles = _boxes(page, "#statistics > div")
    assert len(tiles) >= 10
    for i, tile in enumerate(tiles):
        for other in tiles[i + 1 :]:
            assert not _overlap(tile, other), (tile, other)
    labels, values = _boxes(page, "#statistics span"), _boxes(page, "#statistics strong")
    for name, value in zip(labels, values, strict=True):
        assert not _overlap(name, value), (name, value)
        assert name["right"] + GAP_PX <= value["left"], (name, value)
        lines = (name["bottom"] - name["top"]) / (value["bottom"] - value["top"])
        assert lines < 1.5, (name, value)  # a name on one line, not wrapped
    width = page.evaluate("() => document.documentElement.clientWidth")
    assert all(box["right"] <= width for box in values)


def _facts(page: Any, scope: str) -> dict[str, str]:
    names = page.locator(f"{scope} dt").all_text_contents()
    texts = page.locator(f"{scope} dd").all_text_contents()
    return dict(zip(names, texts, strict=True))


def test_the_pages_describe_each_run_and_show_numbers_one_way(
    page: Any, member: tuple[str, str], stack: Stack
) -> None:
    name, token = member
    api = httpx.Client(base_url=stack.api_url, headers={"Authorization": f"Bearer {token}"})
    strategy = api.post("/api/strategy", json=_described_strategy()).json()
    runs = [_run(api, strategy["id"], backtest_params(parameters={"fast": f})) for f in (5, 8)]
    cached = _run(api, strategy["id"], runs[1]["params"])
    assert cached["result"]["cached"] is True
    sign_in(page, name)

    page.goto(f"{stack.api_url}/#/backtest/{cached['id']}")
    page.wait_for_selector("body[data-drawn=true]")
    facts = _facts(page, "#run-inputs")
    assert {name: facts[name] for name in DESCRIBED} == DESCRIBED
    assert facts["Parameters"] == "fast=8, slow=30"
    assert facts["Range"].startswith("2005-01-03 00:00 to 2012-12-31 00:00 (")
    assert facts["Data version"] == str(cached["data_version"])
    assert facts["Served"].startswith("from the cache")
    statistics = {
        node.get_attribute("data-statistic"): node.text_content()
        for node in page.locator("[data-statistic]").all()
    }
    assert MONEY.match(statistics["final_equity"]), statistics
    for statistic in ("total_return", "buy_and_hold_return", "max_drawdown", "exposure"):
        assert PERCENT.match(statistics[statistic]), statistics
    assert re.match(r"^-?\d+\.\d{2}$", statistics["sharpe_ratio"]), statistics
    assert not any(text.startswith("-0.00") for text in statistics.values()), statistics
    pnl = page.locator("#trades tbody tr td:nth-child(6)").all_text_contents()
    assert pnl
    assert all(MONEY.match(text) for text in pnl), pnl
    _assert_tiles_apart(page)
    screenshot(page, "9-result-describes-its-run")
    page.set_viewport_size({"width": 390, "height": 844})
    _assert_tiles_apart(page)
    screenshot(page, "10-result-describes-its-run-at-phone-width")
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 390
    page.set_viewport_size({"width": 1280, "height": 800})

    kinds, agreed = page.evaluate(
        """async (cases) => {
          const format = await import("/static/format.js");
          return [format.KINDS, cases.map(([kind, value]) => format.shown(kind, value))];
        }""",
        [[kind, value] for kind, value, _ in CASES],
    )
    assert kinds == KINDS
    assert agreed == [text for _, _, text in CASES]

    page.goto(f"{stack.api_url}/#/strategy/{strategy['id']}")
    page.wait_for_selector("input[type=checkbox]")
    rows = page.locator("tbody tr:has(dl.inputs)")
    assert rows.count() == 3
    seen = []
    for index in range(3):
        described = _facts(page, f"tbody tr:has(dl.inputs) >> nth={index} >> dl.inputs")
        assert {name: described[name] for name in DESCRIBED} == DESCRIBED
        assert described["Data version"] == str(cached["data_version"])
        seen.append(described["Parameters"])
    assert sorted(seen) == ["fast=5, slow=30", "fast=8, slow=30", "fast=8, slow=30"]
    screenshot(page, "11-backtests-describe-their-runs")
    for checkbox in page.locator("input[type=checkbox]").all():
        checkbox.check()
    page.click("button:has-text('Compare selected')")
    page.wait_for_selector("#compare-inputs tbody tr")
    screenshot(page, "12-compare-inputs")
    compared = {
        row.locator("td").first.text_content(): row.locator("td").all_text_contents()[1:]
        for row in page.locator("#compare-inputs tbody tr").all()
    }
    assert sorted(compared["Parameters"]) == sorted(seen)
    assert compared["Sizing"] == [DESCRIBED["Sizing"]] * 3
    assert compared["Rules"] == [DESCRIBED["Rules"]] * 3
    assert compared["Data version"] == [str(cached["data_version"])] * 3
    assert compared["Served"].count("") == 2


# What each upload's state was whenever the progress bar or the button changed.
_RECORD_UPLOAD = """() => {
  window.uploadSeen = [];
  const bar = document.getElementById("upload-progress");
  const button = document.getElementById("upload");
  new MutationObserver(() => window.uploadSeen.push({ disabled: button.disabled, shown: !bar.hidden,
    value: bar.getAttribute("value") })).observe(document.body,
    { subtree: true, attributes: true, attributeFilter: ["value", "hidden", "disabled"] });
}"""
_REFUSED = (
    "Failed to load resource: the server responded with a status of 422 (Unprocessable Entity)"
)


def _upload(page: Any, symbol: str, file: Path, drop: bool = False) -> str:
    page.fill("#upload-form input[name=symbol]", symbol)
    page.set_input_files("#upload-form input[name=file]", str(file))
    page.set_checked("#upload-form input[name=duplicates]", drop)
    page.click("#upload")
    page.wait_for_function("() => !document.getElementById('upload').disabled")
    note: str = page.locator("#upload-form ~ p.message").text_content()
    return note


def test_uploads_show_progress_keep_their_report_and_say_what_is_wrong(
    page: Any, member: tuple[str, str], tmp_path: Path
) -> None:
    name, _ = member
    big = tmp_path / "big.csv"
    big.write_bytes(daily_csv(20_000, start="1960-01-01"))
    repeated = tmp_path / "repeated.csv"
    lines = daily_csv(30).decode().splitlines()
    repeated.write_text("\n".join([*lines, lines[-1]]) + "\n")
    no_close = tmp_path / "no_close.csv"
    no_close.write_text("Date,Open,High,Low,Volume\n2020-01-01,1,2,0.5,10\n")
    sign_in(page, name)
    page.click("nav >> text=Market data")
    page.wait_for_selector("#upload-form")
    page.evaluate(_RECORD_UPLOAD)

    symbol = f"UP{uuid.uuid4().hex[:6].upper()}"
    note = _upload(page, symbol, big)
    seen = page.evaluate("() => window.uploadSeen")
    assert any(state["disabled"] and state["shown"] for state in seen), seen
    assert note == f"{symbol}: stored 20,000 of 20,000 rows."
    page.wait_for_timeout(1500)  # the report stays (it used to go after 0.8 s)
    report = dict(
        row.locator("td").all_text_contents()
        for row in page.locator("#import-report table").first.locator("tbody tr").all()
    )
    assert report["Rows read"] == "20,000"
    assert report["Rows stored"] == "20,000"
    assert report["Duplicates dropped"] == "0"
    assert page.locator(f"#symbols td:text-is('{symbol}')").count() == 1
    assert page.locator("#upload-progress").is_hidden()
    screenshot(page, "13-upload-report")

    twice = f"DUP{uuid.uuid4().hex[:6].upper()}"
    refused = _upload(page, twice, repeated)
    page.console_errors.remove(_REFUSED)
    assert "repeats an earlier row" in page.locator("#import-report").text_content()
    assert refused.startswith("timestamp repeats an earlier row"), refused
    assert _upload(page, twice, repeated, drop=True) == f"{twice}: stored 30 of 31 rows."
    kept = page.locator("#import-report tr:has-text('Duplicates dropped') td").last.text_content()
    assert kept == "1"

    missing = _upload(page, f"MISS{uuid.uuid4().hex[:4].upper()}", no_close)
    page.console_errors.remove(_REFUSED)
    assert "missing columns: close" in missing.lower(), missing
    bad_name = _upload(page, "-bad name", no_close)
    page.console_errors.remove(_REFUSED)
    assert "a symbol name is letters, digits" in bad_name, bad_name
    too_long = _upload(page, "A" * 40, no_close)
    page.console_errors.remove(_REFUSED)
    assert "a symbol name is at most 32 characters long" in too_long, too_long
    for said in (missing, bad_name, too_long):
        assert not re.search(r"[{}\[\]^$]", said), said  # no dict, list or pattern

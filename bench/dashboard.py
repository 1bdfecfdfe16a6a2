"""How long the dashboard takes to draw a 1M-bar backtest's result page in headless
Chromium (goal: under 1.5 s).

    .venv/bin/python bench/dashboard.py [--bars 1000000] [--repeat 5]

A throw-away stack, a million one-minute bars, a 50/200 crossover backtested on them
through the API; then, in a fresh browser context each time, the result page is opened
and timed from the navigation's start (the page's own clock) until every chart is drawn
and the trades table filled (`data-drawn` on the body): the page and its scripts, the
backtest, the bars joined into 2,000 candles, every trade for the markers, the first page
of the trades table. Needs Chromium: Debian's `chromium`, or CHROMIUM_PATH.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import time
from pathlib import Path
from typing import Any, NamedTuple

import httpx
from playwright.sync_api import ViewportSize, sync_playwright

sys.path.insert(0, str(Path(__file__).resolve().parent))
from synthetic import minute_walk
from throwaway_stack import throwaway_stack

from backend_services.market_data.importer import import_bars

SYMBOL = "DRAWBENCH"
_VIEWPORT: ViewportSize = {"width": 1280, "height": 800}
_MILESTONES = """() => performance.getEntriesByType('mark')
  .map(m => [m.name, Math.round(m.startTime)])"""
_SLOWEST_RESOURCES = """() => performance.getEntriesByType('resource')
  .map(r => [r.name.replace(location.origin, '').split('?')[0], Math.round(r.duration)])
  .sort((a, b) => b[1] - a[1]).slice(0, 6)"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bars", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    chromium = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium")
    if chromium is None:
        sys.exit("no Chromium: apt-get install chromium, or set CHROMIUM_PATH")
    with throwaway_stack("dashboard", {}) as stack:
        import_bars(stack.database, SYMBOL, minute_walk(args.bars, seed=11))
        api = httpx.Client(
            base_url=stack.api_url, headers={"Authorization": f"Bearer {stack.token}"}, timeout=120
        )
        backtest = _completed_backtest(api)
        result = backtest["result"]
        print(f"{result['bars']:,} bars, {result['total_trades']:,} trades")
        url = f"{stack.api_url}/#/backtest/{backtest['id']}"
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
            first = [_draw(browser, url, stack.token, None) for _ in range(args.repeat + 1)]
            returning_context = browser.new_context(viewport=_VIEWPORT)
            returning = [
                _draw(browser, url, stack.token, returning_context) for _ in range(args.repeat + 1)
            ]
            browser.close()
        print(f"the very first page, cold on the server too: {first[0].seconds:.2f} s")
        _report("a member's first visit (empty browser cache)", first[1:])
        _report("a returning member (the browser's cache warm)", returning[1:])


class Drawn(NamedTuple):
    seconds: float
    slowest_requests: object
    milestones: object


def _draw(browser: Any, url: str, token: str, context: Any | None) -> Drawn:
    """From the navigation's start until the page has drawn everything; in a new
    context (empty cache) unless one is given."""
    own = context is None
    context = context or browser.new_context(viewport=_VIEWPORT)
    context.add_init_script(f"localStorage.setItem('botclub.token', {token!r})")
    page = context.new_page()
    page.goto(url)
    page.wait_for_selector("body[data-drawn=true]", timeout=60_000)
    drawn = Drawn(
        page.evaluate("() => performance.now()") / 1e3,
        page.evaluate(_SLOWEST_RESOURCES),
        page.evaluate(_MILESTONES),
    )
    page.close()
    if own:
        context.close()
    return drawn


def _report(who: str, pages: list[Drawn]) -> None:
    seconds = [page.seconds for page in pages]
    print(
        f"{who}: drawn in {statistics.median(seconds):.2f} s median "
        f"(min {min(seconds):.2f}, max {max(seconds):.2f}, {len(seconds)} pages)\n"
        f"  last page's slowest requests (ms): {pages[-1].slowest_requests}\n"
        f"  its milestones (ms from navigation): {pages[-1].milestones}"
    )


def _completed_backtest(api: httpx.Client) -> dict[str, Any]:
    strategy = api.post(
        "/api/strategy",
        json={"name": "draw", "symbol": SYMBOL, "timeframe": "1m",
              "parameters": {"fast": 50, "slow": 200}},
    ).json()  # fmt: skip
    started = api.post(
        f"/api/strategy/{strategy['id']}/backtest",
        json={"start_date": "2000-01-01T00:00:00Z", "end_date": "2030-01-01T00:00:00Z"},
    ).json()
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        backtest: dict[str, Any] = api.get(f"/api/backtest/{started['id']}").json()
        if backtest["status"] == "completed":
            return backtest
        if backtest["status"] in ("failed", "cancelled"):
            sys.exit(f"the backtest {backtest['status']}: {backtest['error']}")
        time.sleep(0.5)
    sys.exit("the backtest did not complete in 5 minutes")


if __name__ == "__main__":
    main()

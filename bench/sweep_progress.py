"""How evenly a large optimization's progress moves, to the end.

    .venv/bin/python bench/sweep_progress.py [--fast 100] [--slow 99]

A throw-away stack with one worker; a sweep of every fast x slow pair of windows (9,900
by default) over GOOG's daily bars, followed through `/api/backtest/{id}/events` from
submission to the final event. Prints each event's time and progress, the longest time
the progress stood still while running, and how long the last step (from the last
progress to `completed`: the best run, the trades, the result stored and delivered)
took.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from throwaway_stack import throwaway_stack


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--fast", type=int, default=100, help="fast windows 1..FAST")
    parser.add_argument("--slow", type=int, default=99, help="slow windows 2..SLOW+1")
    args = parser.parse_args()
    with throwaway_stack("sweep-progress", {"WORKERS": "1"}) as stack:
        api = httpx.Client(
            base_url=stack.api_url, headers={"Authorization": f"Bearer {stack.token}"}, timeout=600
        )
        strategy = api.post("/api/strategy", json={"name": "sweep", "symbol": "GOOG"}).json()
        grid = {"fast": list(range(1, args.fast + 1)), "slow": list(range(2, args.slow + 2))}
        body = {
            "start_date": "2004-08-19T00:00:00Z",
            "end_date": "2013-03-01T00:00:00Z",
            "sweep": {"grid": grid},
        }
        started = time.perf_counter()
        backtest = api.post(f"/api/strategy/{strategy['id']}/optimize", json=body).json()
        events = []
        with api.stream("GET", f"/api/backtest/{backtest['id']}/events") as stream:
            for line in stream.iter_lines():
                if line.startswith("data: "):
                    event = json.loads(line[6:])
                    events.append((time.perf_counter() - started, event))
                    print(
                        f"{events[-1][0]:7.2f} s  {event['status']:<9} {event['progress']:5.1f} %"
                    )
        running = [(at, e) for at, e in events if e["status"] in ("running", "completed")]
        stills = [later[0] - earlier[0] for earlier, later in itertools.pairwise(running)]
        combinations = len(grid["fast"]) * len(grid["slow"])
        print(
            f"{combinations:,} combinations in {events[-1][0]:.2f} s; longest still while "
            f"running: {max(stills):.2f} s; last step to {events[-1][1]['status']}: "
            f"{stills[-1]:.2f} s"
        )


if __name__ == "__main__":
    main()

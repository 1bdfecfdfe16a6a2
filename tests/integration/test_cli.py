"""The member command line against a live stack, as a member uses it: sign in, write
strategies, run and follow backtests and sweeps, read and export results, own the
symbols they import. Every command runs as its own process."""

from __future__ import annotations

import csv
import json
import os
import re
import stat
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
import yaml
from helpers import SMA_YAML, Stack, run_botclub

pytestmark = pytest.mark.integration

Botclub = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path


@pytest.fixture
def botclub(home: Path) -> Botclub:
    def run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
        return run_botclub(home, env, *args)

    return run


@pytest.fixture
def member(botclub: Botclub, stack: Stack, api: httpx.Client) -> Botclub:
    """`botclub` signed in to the session's stack as a new member."""
    token = api.headers["Authorization"].removeprefix("Bearer ")
    signed_in = botclub("login", "--server", stack.api_url, f"--token={token}")
    assert signed_in.returncode == 0, signed_in.stderr
    return botclub


def strategy_file(home: Path, name: str) -> Path:
    path = home / f"{name}.yaml"
    path.write_text(SMA_YAML.format(name=name))
    return path


def daily_prices(home: Path) -> Path:
    """A CSV file of 28 daily bars in January 2020."""
    prices = home / "prices.csv"
    lines = ["date,open,high,low,close,volume"]
    lines += [f"2020-01-{day:02d},10,20,9,{10 + day / 10},100" for day in range(1, 29)]
    prices.write_text("\n".join(lines) + "\n")
    return prices


def test_login_keeps_the_token_readable_by_its_owner_only(
    member: Botclub, home: Path, api: httpx.Client
) -> None:
    config = home / "config" / "botclub" / "config.json"

    whoami = member("whoami", "--json")

    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    assert json.loads(whoami.stdout)["name"] == api.get("/api/me").json()["name"]


def test_without_a_sign_in_or_with_a_bad_token_the_exit_code_says_so(
    botclub: Botclub, stack: Stack
) -> None:
    missing = botclub("strategy", "list")
    refused = botclub("login", "--server", stack.api_url, "--token", "not-a-token")
    unreachable = botclub("symbols", BOTCLUB_SERVER="http://127.0.0.1:9", BOTCLUB_TOKEN="x")

    assert (missing.returncode, refused.returncode, unreachable.returncode) == (3, 3, 6)
    assert missing.stderr.splitlines() == [
        "error: not signed in",
        "hint: botclub login --token TOKEN",
    ]
    assert refused.stderr.startswith("error: 401: invalid, expired or revoked token")
    assert unreachable.stderr.startswith("error: cannot reach http://127.0.0.1:9")
    for run in (missing, refused, unreachable):
        assert "Traceback" not in run.stderr


def test_a_strategy_is_created_listed_shown_and_edited_from_files(
    member: Botclub, home: Path
) -> None:
    name = f"SMA {uuid.uuid4().hex[:6]}"
    created = member("strategy", "create", str(strategy_file(home, name)))
    strategy_id = created.stdout.strip()

    listed = member("strategy", "list")
    shown = json.loads(member("strategy", "show", name).stdout)
    shown["parameters"]["fast"] = 12
    edited_file = home / "edited.json"
    edited_file.write_text(json.dumps(shown))
    edited = json.loads(member("strategy", "edit", strategy_id, str(edited_file), "--json").stdout)

    assert created.returncode == 0, created.stderr
    assert name in listed.stdout
    assert "fast=10 slow=30" in listed.stdout
    assert shown["id"] == strategy_id
    assert edited["parameters"] == {"fast": 12, "slow": 30}


def test_a_bad_rule_is_refused_with_the_services_message(member: Botclub, home: Path) -> None:
    path = home / "typo.yaml"
    path.write_text(SMA_YAML.format(name="typo").replace("sma(close, fast)", "smaa(close, fast)"))

    refused = member("strategy", "create", str(path))

    assert refused.returncode == 5
    assert "rules.long_entry: unknown function 'smaa' at 1:11, did you mean 'sma'?" in (
        refused.stderr
    )
    assert len(refused.stderr.splitlines()) == 1


def test_a_backtest_is_followed_to_its_statistics_and_its_trades_exported(
    member: Botclub, home: Path, api: httpx.Client
) -> None:
    name = f"SMA {uuid.uuid4().hex[:6]}"
    member("strategy", "create", str(strategy_file(home, name)))

    followed = member(
        "backtest", name, "--from", "2005-01-01", "--to", "2012-12-31",
        "--capital", "12345", "--set", "fast=8", "--follow", "--json",
    )  # fmt: skip
    backtest = json.loads(followed.stdout)
    exported = member("trades", backtest["id"], "--csv", str(home / "trades.csv"))
    report = member("export", backtest["id"], "report", str(home / "report.html"))
    no_ranking = member("export", backtest["id"], "ranking", str(home / "ranking.csv"))
    table = member("results", backtest["id"])

    assert followed.returncode == 0, followed.stderr
    assert backtest["status"] == "completed"
    assert backtest["params"]["parameters"] == {"fast": 8}
    assert "completed" in followed.stderr  # the progress, on stderr
    assert exported.returncode == 0, exported.stderr
    saved = (home / "trades.csv").read_text()
    assert saved == api.get(f"/api/backtest/{backtest['id']}/trades.csv").text
    assert saved.startswith("# Symbol: GOOG 1d\n")  # it says what produced it
    rows = list(csv.DictReader(line for line in saved.splitlines() if not line.startswith("#")))
    assert len(rows) == backtest["result"]["total_trades"]
    assert float(rows[0]["pnl"]) == pytest.approx(backtest["result"]["trades"][0]["pnl"])
    assert f"{backtest['result']['total_return'] * 100:,.2f} %" in table.stdout
    assert report.returncode == 0, report.stderr
    assert 'id="run-inputs"' in (home / "report.html").read_text()
    assert no_ranking.returncode != 0
    assert "409" in no_ranking.stderr  # a backtest, not an optimization: no ranking
    assert not (home / "ranking.csv").exists()
    assert api.get(f"/api/backtest/{backtest['id']}").json()["status"] == "completed"


def test_an_optimization_runs_over_a_grid_and_shows_its_ranking(
    member: Botclub, home: Path
) -> None:
    name = f"SMA {uuid.uuid4().hex[:6]}"
    member("strategy", "create", str(strategy_file(home, name)))

    run = member(
        "optimize", name, "--grid", "fast=5:15:5", "--grid", "slow=20,40",
        "--constraint", "fast < slow", "--follow",
    )  # fmt: skip

    assert run.returncode == 0, run.stderr
    assert "6 combinations by sharpe_ratio; the best 6 of 6:" in run.stdout
    assert "fast=5 slow=20" in run.stdout
    assert "the best combination in full:" in run.stdout


def test_a_tpe_search_shows_its_trials_and_how_likely_its_winner_is_luck(
    member: Botclub, home: Path
) -> None:
    name = f"SMA {uuid.uuid4().hex[:6]}"
    member("strategy", "create", str(strategy_file(home, name)))
    ranges = ["--range", "fast=2:20", "--range", "slow=20:60:10"]
    search = ["--method", "tpe", *ranges, "--trials", "12", "--seed", "3"]

    started = json.loads(member("optimize", name, *search, "--json").stdout)
    run = member("follow", started["id"])

    assert run.returncode == 0, run.stderr
    assert "12 combinations by sharpe_ratio; the best 10 of 12:" in run.stdout
    assert re.search(r"method tpe: 12 combinations run; the best \(.+\) found at trial", run.stdout)
    assert re.search(r"deflated Sharpe ratio [\d.]+ %: the chance the best beats", run.stdout)
    assert re.search(r"probability of backtest overfitting [\d.]+ %: how often", run.stdout)


def test_a_walk_forward_shows_its_windows_and_efficiency_then_the_stitched_run(
    member: Botclub, home: Path
) -> None:
    name = f"SMA {uuid.uuid4().hex[:6]}"
    member("strategy", "create", str(strategy_file(home, name)))

    run = member(
        "optimize", name, "--grid", "fast=5,10", "--grid", "slow=30,40",
        "--objective", "total_return", "--walk-forward", "730d:365d", "--anchored", "--follow",
    )  # fmt: skip
    wrong = member("optimize", name, "--grid", "fast=5,10", "--walk-forward", "2y")
    listed = member("backtests", name)

    assert run.returncode == 0, run.stderr
    assert " anchored windows by total_return:" in run.stdout
    lines = run.stdout.splitlines()
    header = next(line for line in lines if line.startswith("train"))
    assert header.split() == ["train", "test", "chosen", "in-sample", "out-of-sample", "trades"]
    first_window = lines[lines.index(header) + 2]
    assert first_window.count(" %") == 2  # total returns shown as percentages, as the page does
    assert "walk-forward efficiency: undefined (" in run.stdout  # total returns, 730d vs 365d
    assert "the test windows stitched:" in run.stdout
    assert "Total return" in run.stdout
    assert "(swept: fast, slow) (walk-forward)" in listed.stdout
    assert wrong.returncode == 2
    assert "expected TRAIN:TEST or TRAIN:TEST:STEP" in wrong.stderr


def test_functions_lists_the_rule_language_and_describes_one(member: Botclub) -> None:
    listed = member("functions")
    every = json.loads(member("functions", "--json").stdout)
    adx = member("functions", "ADX")
    misspelt = member("functions", "stochh_slowk")
    slowd = member("functions", "stoch_slowd")

    assert listed.returncode == 0, listed.stderr
    assert "adx(high, low, close, timeperiod=14)" in listed.stdout
    assert len(every) == len(listed.stdout.splitlines()) - 2  # the header and its rule
    assert adx.stdout.splitlines()[:4] == [
        "adx(high, low, close, timeperiod=14)",
        "  Average Directional Movement Index (Momentum Indicators); gives a series",
        "  TA-Lib: ADX",
        "  first value after 27 bars (with the defaults)",
    ]
    assert "timeperiod" in adx.stdout
    assert "2..1000" in adx.stdout
    assert any(
        line.split()[:3] == ["timeperiod", "period", "14"] for line in adx.stdout.splitlines()
    )
    assert max(len(line) for line in listed.stdout.splitlines()) < 200  # fits a wide terminal
    assert misspelt.returncode == 4
    assert "did you mean stoch_slowk" in misspelt.stderr
    assert "  one output of stoch_slowk, stoch_slowd (computed once for all)" in (
        slowd.stdout.splitlines()
    )


def test_a_member_imports_and_deletes_their_own_symbol(
    member: Botclub, home: Path, botclub: Botclub
) -> None:
    symbol = f"CLI{uuid.uuid4().hex[:6].upper()}"
    prices = daily_prices(home)

    imported = member("import", symbol, str(prices))
    listed = json.loads(member("symbols", "--json").stdout)
    strategy = strategy_file(home, "Uses it")
    strategy.write_text(strategy.read_text().replace("symbol: GOOG", f"symbol: {symbol}"))
    member("strategy", "create", str(strategy))
    in_use = member("delete-symbol", symbol)
    deleted = member("delete-symbol", symbol, "--force")
    gone = member("delete-symbol", symbol)

    assert imported.returncode == 0, imported.stderr
    assert f"{symbol}: 28 1d bars, 2020-01-01 to 2020-01-28, version 1" in imported.stdout
    [entry] = [entry for entry in listed if entry["symbol"] == symbol]
    assert entry["owner_id"] is not None
    assert in_use.returncode == 5
    assert f"1 strategy uses {symbol}: yours 'Uses it'" in in_use.stderr
    assert deleted.returncode == 0, deleted.stderr
    assert gone.returncode == 4


def test_refused_rows_are_listed_in_one_line(member: Botclub, home: Path) -> None:
    prices = home / "bad.csv"
    prices.write_text("date,open,high,low,close\n2020-01-01,1,2,0.5,1\n2020-01-02,1,2,0.5,-1\n")

    refused = member("import", "CLIBAD", str(prices))

    assert refused.returncode == 5
    assert "rows 2" in refused.stderr
    assert len(refused.stderr.splitlines()) == 1


def test_usage_errors_are_one_line_with_exit_code_2(member: Botclub, home: Path) -> None:
    grid = member("optimize", "x", "--grid", "fast=9:1:1")
    setting = member("backtest", "x", "--set", "fast")
    missing = member("strategy", "create", str(home / "nope.yaml"))

    assert (grid.returncode, setting.returncode, missing.returncode) == (2, 2, 2)
    assert "START:STOP:STEP with STEP > 0" in grid.stderr
    assert "expected NAME=VALUE" in setting.stderr
    assert "cannot read" in missing.stderr


def test_yaml_strategy_files_round_trip(member: Botclub, home: Path) -> None:
    name = f"SMA {uuid.uuid4().hex[:6]}"
    member("strategy", "create", str(strategy_file(home, name)))

    shown = json.loads(member("strategy", "show", name).stdout)

    written = yaml.safe_load(SMA_YAML.format(name=name))
    assert {key: shown["rules"][key] for key in written["rules"]} == written["rules"]
    assert (shown["parameters"], shown["costs"]["commission_pct"]) == (
        written["parameters"],
        written["costs"]["commission_pct"],
    )


def test_a_strategys_runs_are_listed_with_their_parameters_and_a_cached_one_flagged(
    member: Botclub, home: Path
) -> None:
    name = f"SMA {uuid.uuid4().hex[:6]}"
    member("strategy", "create", str(strategy_file(home, name)))
    run = ("backtest", name, "--from", "2006-01-01", "--to", "2011-12-31", "--capital", "23456",
           "--set", "fast=7", "--follow", "--json")  # fmt: skip
    computed = json.loads(member(*run).stdout)
    again = member(*run[:-1])  # the same backtest, answered from the stored result

    listed = json.loads(member("backtests", name, "--json").stdout)
    table = member("backtests", name).stdout.splitlines()

    assert again.returncode == 0, again.stderr
    assert "completed (cached: the result of an identical earlier backtest" in again.stdout
    assert [run["cached"] for run in listed] == [True, False]
    assert listed[1]["id"] == computed["id"]
    assert listed[0]["params"]["parameters"] == {"fast": 7}
    assert listed[0]["parameters"] == {"fast": 7, "slow": 30}
    assert listed[0]["params"]["initial_capital"] == 23456
    header, _, newest, oldest = table
    assert header.split() == ["id", "created", "status", "from", "to", "timeframe", "capital",
                              "parameters", "return", "sharpe", "cached"]  # fmt: skip
    for row, cached in ((newest, True), (oldest, False)):
        assert "completed  2006-01-01  2011-12-31  1d" in row
        assert "fast=7 slow=30" in row
        assert row.endswith(" yes") is cached


def test_dates_outside_the_stored_bars_are_refused_naming_their_range(
    member: Botclub, home: Path
) -> None:
    name = f"SMA {uuid.uuid4().hex[:6]}"
    member("strategy", "create", str(strategy_file(home, name)))
    stored = "GOOG has 1d bars from 2004-08-19 to 2013-03-01"

    after = member("backtest", name, "--from", "2020-01-01")
    before = member("backtest", name, "--to", "2001-01-01")
    backwards = member("backtest", name, "--from", "2012-01-01", "--to", "2011-01-01")
    outside = member("backtest", name, "--from", "2020-01-01", "--to", "2021-01-01")

    for refused in (after, before, backwards, outside):
        assert refused.returncode == 5, refused.stderr
    assert after.stderr == f"error: no GOOG bars from 2020-01-01: {stored}\n"
    assert before.stderr == f"error: no GOOG bars until 2001-01-01: {stored}\n"
    assert "end_date must be after start_date" in backwards.stderr
    assert backwards.stderr.splitlines()[1] == f"hint: {stored}"
    # The API's own refusal names the range already: said once.
    assert len(outside.stderr.splitlines()) == 1
    assert "stored: 2004-08-19 to 2013-03-01" in outside.stderr


def test_trades_piped_into_a_reader_that_stops_reading_end_quietly(
    member: Botclub, home: Path
) -> None:
    name = f"SMA {uuid.uuid4().hex[:6]}"
    member("strategy", "create", str(strategy_file(home, name)))
    backtest = json.loads(member("backtest", name, "--follow", "--json").stdout)

    trades = subprocess.Popen(
        [sys.executable, "-m", "botclub.cli", "trades", backtest["id"]],
        cwd=home,
        env={**os.environ, "XDG_CONFIG_HOME": str(home / "config")},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert trades.stdout is not None
    trades.stdout.close()  # as `head` does once it has its lines

    assert trades.wait(60) == 141
    assert trades.communicate()[1] == b""


def test_the_bundled_samples_belong_to_the_system_and_imports_to_their_member(
    member: Botclub, home: Path
) -> None:
    symbol = f"OWN{uuid.uuid4().hex[:6].upper()}"
    prices = daily_prices(home)
    member("import", symbol, str(prices))

    table = member("symbols").stdout.splitlines()
    listed = {entry["symbol"]: entry for entry in json.loads(member("symbols", "--json").stdout)}
    delete_sample = member("delete-symbol", "GOOG")
    replace_sample = member("import", "GOOG", str(prices))

    assert table[0].split()[-1] == "owner"
    owners = {row.split()[0]: row.split()[-1] for row in table[2:]}
    assert owners["GOOG"] == owners["EURUSD"] == "system"
    assert owners[symbol] == "you"
    assert listed["GOOG"]["owner_id"] == "system"
    for refused in (delete_sample, replace_sample):
        assert refused.returncode == 4
        assert refused.stderr == "error: 403: GOOG belongs to the system (a bundled sample)\n"
    assert json.loads(member("symbols", "--json").stdout) == list(listed.values())

"""The member commands: everything a member does, through the API as themselves.

Each returns the command's exit code; reads print a table (or, with `--json`, the API's
own JSON on stdout); progress and notes go to stderr, so stdout stays parseable."""

from __future__ import annotations

import getpass
import json
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import yaml

from botclub.api_client import ApiClient
from botclub.failures import CommandFailed, ExitCode
from botclub.member_config import MemberConfig, load_config, save_config
from botclub.output import ProgressBar, print_json, print_statistics, print_table
from botclub.portfolio import show_portfolio
from botclub.search_view import search_lines
from botclub.stack_file import NoStackRunning, running_stack
from botclub.stored_range import check_within, name_the_range
from botclub.walk_forward import print_walk_forward

__all__ = [
    "backtests",
    "cancel",
    "delete_backtest",
    "delete_symbol",
    "follow",
    "import_file",
    "login",
    "parse_assignments",
    "parse_grid",
    "results",
    "run",
    "strategy_create",
    "strategy_delete",
    "strategy_edit",
    "strategy_list",
    "strategy_show",
    "symbols",
    "trades",
    "whoami",
]

FINAL = ("completed", "failed", "cancelled")
POLL_S = 0.25
TRADES_PAGE = 5_000  # the most the API gives in one page
SHOWN_RANKED = 10


def login(server: str | None, token: str | None, data_dir: Path) -> int:
    """Check the token with the server (by default the API of the stack running from
    `data_dir`, else the one signed in to before) and keep both for the other commands."""
    chosen = server or _stack_api(data_dir) or load_config().server
    token = token or getpass.getpass("API token (botclub create-user NAME prints one): ")
    config = MemberConfig(server=chosen.rstrip("/"), token=token.strip())
    with ApiClient(config) as api:
        user = api.get("/api/me")
    path = save_config(config)
    print(f"signed in to {config.server} as {user['name']} (kept in {path}, readable by you only)")
    return ExitCode.OK


def whoami(as_json: bool) -> int:
    with _api() as api:
        user = api.get("/api/me")
    if as_json:
        print_json(user | {"server": api.server})
    else:
        print(f"{user['name']} ({user['id']}) on {api.server}")
    return ExitCode.OK


def strategy_create(file: Path, as_json: bool) -> int:
    with _api() as api:
        strategy = api.post("/api/strategy", _read_document(file))
    _say_strategy("created", strategy, as_json)
    return ExitCode.OK


def strategy_list(as_json: bool) -> int:
    return _listing(
        "/api/strategy",
        as_json,
        ["id", "name", "symbol", "timeframe", "parameters"],
        lambda s: [s["id"], s["name"], s["symbol"], s["timeframe"], _parameters(s["parameters"])],
    )


def strategy_show(reference: str) -> int:
    with _api() as api:
        print_json(_strategy(api, reference))
    return ExitCode.OK


def strategy_edit(reference: str, file: Path, as_json: bool) -> int:
    """Replace the strategy's fields with the file's (as `strategy show` prints them)."""
    fields = _read_document(file)
    for generated in ("id", "created_at", "updated_at"):
        fields.pop(generated, None)
    with _api() as api:
        strategy = _strategy(api, reference)
        updated = api.put(f"/api/strategy/{strategy['id']}", fields)
    _say_strategy("updated", updated, as_json)
    return ExitCode.OK


def strategy_delete(reference: str) -> int:
    with _api() as api:
        strategy = _strategy(api, reference)
        api.delete(f"/api/strategy/{strategy['id']}")
    print(f"deleted strategy {strategy['name']} ({strategy['id']})", file=sys.stderr)
    return ExitCode.OK


def run(
    reference: str,
    options: dict[str, Any],
    assignments: Sequence[str],
    sweep: dict[str, Any] | None,
    follow_it: bool,
    as_json: bool,
    validation: dict[str, Any] | None = None,
) -> int:
    """Start a backtest of the strategy, or with `sweep` an optimization (validated
    walk-forward over the windows of `validation`, when given)."""
    overrides = parse_assignments(assignments)
    with _api() as api:
        strategy = _strategy(api, reference)
        params = _params(api, strategy, options, overrides)
        kind = "backtest" if sweep is None else "optimize"
        if sweep is not None:
            params["sweep"] = sweep
        if validation is not None:
            params["validation"] = validation
        try:
            started = api.post(f"/api/strategy/{strategy['id']}/{kind}", params)
        except CommandFailed as refused:
            if refused.code is ExitCode.REFUSED and "date" in str(refused):
                name_the_range(api, params.get("symbol") or strategy["symbol"], refused)
            raise
        return _started(api, started, follow_it, as_json)


def follow(backtest_id: str, as_json: bool) -> int:
    with _api() as api:
        return _followed(api, backtest_id, as_json)


def results(backtest_id: str, as_json: bool) -> int:
    with _api() as api:
        found = api.get(f"/api/backtest/{backtest_id}")
    if as_json:
        print_json(found)
    else:
        _show_backtest(found)
    return _final_code(found)


def cancel(backtest_id: str) -> int:
    with _api() as api:
        cancelled = api.delete(f"/api/backtest/{backtest_id}")
    print(f"backtest {backtest_id}: {cancelled['status']}", file=sys.stderr)
    return ExitCode.OK


def delete_backtest(backtest_id: str) -> int:
    with _api() as api:
        api.delete(f"/api/backtest/{backtest_id}", purge="true")
    print(f"deleted backtest {backtest_id} and its trades", file=sys.stderr)
    return ExitCode.OK


# What `botclub export` saves, by name: the API's file of it.
EXPORTS = {"report": "report.html", "trades": "trades.csv", "ranking": "ranking.csv"}


def export(backtest_id: str, what: str, path: Path) -> int:
    """Save a completed backtest's report, trades or ranking as the API serves them (the
    CSV files start with `# ` lines describing the run)."""
    with _api() as api:
        content = api.download(f"/api/backtest/{backtest_id}/{EXPORTS[what]}")
    _write_file(path, content)
    print(f"{EXPORTS[what]} of {backtest_id} written to {path}", file=sys.stderr)
    return ExitCode.OK


def trades(backtest_id: str, csv_file: Path | None, as_json: bool) -> int:
    """Every trade: to a CSV file (as `export` saves it), as JSON, or as a table (read a
    page at a time)."""
    if csv_file is not None:
        return export(backtest_id, "trades", csv_file)
    with _api() as api:
        rows: list[dict[str, Any]] = []
        while True:
            page = api.get(
                f"/api/backtest/{backtest_id}/trades", offset=len(rows), limit=TRADES_PAGE
            )
            rows += page["trades"]
            if not page["trades"] or len(rows) >= page["total"]:
                break
    if as_json:
        print_json(rows)
    else:
        columns = ["entry_time", "exit_time", "side", "entry_price", "exit_price", "pnl"]
        print_table(columns, [[trade.get(c) for c in columns] for trade in rows], columns)
    return ExitCode.OK


def symbols(as_json: bool) -> int:
    with _api() as api:
        me = None if as_json else api.get("/api/me")["id"]
    return _listing(
        "/api/market-data/symbols",
        as_json,
        ["symbol", "timeframe", "first", "last", "rows", "version", "owner"],
        lambda s: [s["symbol"], s["timeframe"], s["first"][:10], s["last"][:10], s["rows"],
                   s["version"], _owner(s["owner_id"], me)],
    )  # fmt: skip


def backtests(reference: str, as_json: bool) -> int:
    """A strategy's backtests and optimizations, newest first, with their parameters."""
    with _api() as api:
        strategy = _strategy(api, reference)
        runs: list[dict[str, Any]] = api.get(f"/api/strategy/{strategy['id']}/backtests")
    if as_json:
        print_json(runs)
        return ExitCode.OK
    headers = ["id", "created", "status", "from", "to", "timeframe", "capital", "parameters",
               "return", "sharpe", "cached"]  # fmt: skip
    statistics = [""] * 6 + ["initial_capital", "", "total_return", "sharpe_ratio"]
    print_table(headers, [_run_row(run, strategy) for run in runs], statistics)
    return ExitCode.OK


def import_file(symbol: str, file: Path, query: dict[str, Any], as_json: bool) -> int:
    """Upload a CSV or Parquet file as `symbol`, owned by the member who uploads it."""
    try:
        content = file.read_bytes()
    except OSError as error:
        raise CommandFailed(f"cannot read {file}: {error.strerror}", ExitCode.USAGE) from None
    with _api() as api:
        outcome = api.upload(f"/api/market-data/symbols/{symbol}", file.name, content, **query)
    if as_json:
        print_json(outcome)
        return ExitCode.OK
    report, entry = outcome["report"], outcome["symbol"]
    print(f"{symbol}: read {report['rows_read']} rows, stored {report['rows_stored']}")
    for note in report.get("notes", []):
        print(f"  note: {note}")
    if entry is not None:
        print(
            f"{symbol}: {entry['rows']} {entry['timeframe']} bars, {entry['first'][:10]} "
            f"to {entry['last'][:10]}, version {entry['version']}"
        )
    return ExitCode.OK


def delete_symbol(symbol: str, force: bool = False) -> int:
    """Refused (the message lists them) while strategies use it, unless `force`."""
    with _api() as api:
        api.delete(f"/api/market-data/symbols/{symbol}", force="true" if force else None)
    print(f"deleted {symbol} and its bars", file=sys.stderr)
    return ExitCode.OK


def parse_assignments(assignments: Sequence[str]) -> dict[str, float | int]:
    """`fast=5 slow=20.5` as {"fast": 5, "slow": 20.5}."""
    parsed: dict[str, float | int] = {}
    for assignment in assignments:
        name, _, value = assignment.partition("=")
        if not name or not value:
            raise CommandFailed(f"expected NAME=VALUE, got {assignment!r}", ExitCode.USAGE)
        parsed[name.strip()] = _number(value, assignment)
    return parsed


def parse_grid(specs: Sequence[str]) -> dict[str, list[float | int]]:
    """`fast=5:50:5` (start:stop:step, stop included) or `fast=5,10,20` per parameter."""
    grid: dict[str, list[float | int]] = {}
    for spec in specs:
        name, _, values = spec.partition("=")
        if not name or not values:
            raise CommandFailed(
                f"expected NAME=START:STOP:STEP or NAME=A,B,C, got {spec!r}", ExitCode.USAGE
            )
        if ":" in values:
            parts = [_number(part, spec) for part in values.split(":")]
            if len(parts) != 3 or parts[2] <= 0 or parts[1] < parts[0]:
                raise CommandFailed(f"{spec!r}: START:STOP:STEP with STEP > 0", ExitCode.USAGE)
            start, stop, step = parts
            count = int((stop - start) / step + 1e-9) + 1
            grid[name.strip()] = [_tidy(start + i * step) for i in range(count)]
        else:
            grid[name.strip()] = [_number(value, spec) for value in values.split(",")]
    return grid


def _listing(
    path: str, as_json: bool, headers: list[str], row: Callable[[dict[str, Any]], list[Any]]
) -> int:
    """What `path` lists: the API's JSON, or a table of `row` of each item."""
    with _api() as api:
        items: list[dict[str, Any]] = api.get(path)
    if as_json:
        print_json(items)
    else:
        print_table(headers, [row(item) for item in items])
    return ExitCode.OK


def _stack_api(data_dir: Path) -> str | None:
    try:
        return running_stack(data_dir).api_url
    except NoStackRunning:
        return None


def _api() -> ApiClient:
    return ApiClient(load_config())


def _read_document(file: Path) -> dict[str, Any]:
    """A strategy file: JSON, or YAML (by its suffix, .yaml / .yml)."""
    try:
        text = file.read_text()
    except OSError as error:
        raise CommandFailed(f"cannot read {file}: {error.strerror}", ExitCode.USAGE) from None
    try:
        document = yaml.safe_load(text) if file.suffix in (".yaml", ".yml") else json.loads(text)
    except (yaml.YAMLError, json.JSONDecodeError) as error:
        raise CommandFailed(f"{file} is not valid: {error}", ExitCode.USAGE) from None
    if not isinstance(document, dict):
        raise CommandFailed(f"{file} must hold one object (a strategy's fields)", ExitCode.USAGE)
    return document


def _strategy(api: ApiClient, reference: str) -> dict[str, Any]:
    """A strategy by id, or by its name when exactly one of the member's has it."""
    strategies: list[dict[str, Any]] = api.get("/api/strategy")
    named = [s for s in strategies if reference in (s["id"], s["name"])]
    if len(named) == 1:
        return named[0]
    if not named:
        raise CommandFailed(
            f"no strategy {reference!r}", ExitCode.NOT_FOUND, "botclub strategy list"
        )
    raise CommandFailed(
        f"{len(named)} strategies are named {reference!r}: use the id", ExitCode.USAGE
    )


def _params(
    api: ApiClient,
    strategy: dict[str, Any],
    options: dict[str, Any],
    overrides: dict[str, float | int],
) -> dict[str, Any]:
    """The backtest's params: the options given, the parameters overridden, and a range
    the stored bars cover where none was given."""
    params = {name: value for name, value in options.items() if value is not None}
    if overrides:
        params["parameters"] = overrides
    if "start_date" not in params or "end_date" not in params:
        symbol = params.get("symbol") or strategy["symbol"]
        stored = api.get(f"/api/market-data/symbols/{symbol}")
        check_within(stored, params)
        params.setdefault("start_date", stored["first"])
        params.setdefault("end_date", stored["last"])
    return params


def _started(api: ApiClient, started: dict[str, Any], follow_it: bool, as_json: bool) -> int:
    for note in started.get("notes", []):
        print(f"note: {note}", file=sys.stderr)
    if follow_it:
        return _followed(api, started["id"], as_json)
    if as_json:
        print_json(started)
    else:
        print(started["id"])
        print(
            f"{started['status']}{_cached(started)}: follow it with "
            f"`botclub follow {started['id']}`",
            file=sys.stderr,
        )
    return ExitCode.OK


def _followed(api: ApiClient, backtest_id: str, as_json: bool) -> int:
    bar = ProgressBar()
    current = api.get(f"/api/backtest/{backtest_id}")
    try:
        while current["status"] not in FINAL:
            bar.update(current["status"], current["progress"])
            time.sleep(POLL_S)
            current = api.get(f"/api/backtest/{backtest_id}")
        bar.update(current["status"], current["progress"])
    finally:
        bar.close()
    if as_json:
        print_json(current)
    else:
        _show_backtest(current)
    return _final_code(current)


def _show_backtest(found: dict[str, Any]) -> None:
    print(f"backtest {found['id']}: {found['status']}{_cached(found)}")
    for note in found.get("notes", []):
        print(f"note: {note}")
    if found.get("error"):
        print(f"error: {found['error']}")
    optimization = found.get("optimization")
    if optimization is not None:
        print(
            f"\n{optimization['combinations']} combinations by {optimization['objective']}; "
            f"the best {min(SHOWN_RANKED, len(optimization['ranked']))} of "
            f"{optimization['ranked_total']}:"
        )
        rows = [
            [
                _parameters(row["parameters"]),
                row["objective"],
                row["total_return"],
                row["sharpe_ratio"],
                row["max_drawdown"],
                row["total_trades"],
            ]
            for row in optimization["ranked"][:SHOWN_RANKED]
        ]
        print_table(
            ["parameters", "objective", "return", "sharpe", "drawdown", "trades"],
            rows,
            ["", optimization["objective"], "total_return", "sharpe_ratio", "max_drawdown"],
        )
        print("\n" + "\n".join(search_lines(optimization)))
        print("\nthe best combination in full:")
    if found.get("walk_forward"):
        print_walk_forward(found["walk_forward"])
    if found.get("result"):
        print()
        print_statistics(found["result"])
        show_portfolio(found["result"])


def _run_row(run: dict[str, Any], strategy: dict[str, Any]) -> list[Any]:
    params, statistics = run["params"], run["statistics"] or {}
    described = _parameters(run["parameters"])
    if run.get("best_parameters") and not run.get("validation"):
        described = "best " + _parameters(run["best_parameters"])
    if run.get("sweep"):
        swept = [*run["sweep"]["grid"], *run["sweep"].get("ranges", {})]
        described += f" (swept: {', '.join(swept)})"
    if run.get("validation"):
        described += " (walk-forward)"
    return [
        run["id"],
        run["created_at"][:16].replace("T", " "),
        run["status"],
        params["start_date"][:10],
        params["end_date"][:10],
        params.get("timeframe") or strategy["timeframe"],
        params["initial_capital"],
        described,
        statistics.get("total_return"),
        statistics.get("sharpe_ratio"),
        "yes" if run.get("cached") else "",
    ]


def _owner(owner_id: str | None, me: str | None) -> str:
    """Whose a symbol is: yours, the system's (the bundled samples), another member's."""
    if owner_id == me:
        return "you"
    return owner_id if owner_id == "system" else ("another member" if owner_id else "-")


def _cached(found: dict[str, Any]) -> str:
    """Said of a backtest answered with an identical earlier one's stored result."""
    if (found.get("result") or {}).get("cached"):
        return " (cached: the result of an identical earlier backtest, not computed again)"
    return ""


def _final_code(found: dict[str, Any]) -> int:
    return ExitCode.OK if found["status"] not in ("failed", "cancelled") else ExitCode.FAILED


def _say_strategy(done: str, strategy: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print_json(strategy)
    else:
        print(strategy["id"])
        print(f"{done} strategy {strategy['name']}", file=sys.stderr)


def _write_file(path: Path, content: bytes) -> None:
    try:
        path.write_bytes(content)
    except OSError as error:
        raise CommandFailed(f"cannot write {path}: {error.strerror}", ExitCode.FAILED) from None


def _parameters(parameters: dict[str, Any]) -> str:
    return " ".join(f"{name}={value}" for name, value in parameters.items())


def _number(text: str, context: str) -> float | int:
    try:
        value = float(text)
    except ValueError:
        raise CommandFailed(f"{context!r}: {text!r} is not a number", ExitCode.USAGE) from None
    return _tidy(value)


def _tidy(value: float) -> float | int:
    """Whole numbers as integers (periods must be), others as they are."""
    rounded = round(float(value), 10)
    return int(rounded) if rounded.is_integer() else rounded

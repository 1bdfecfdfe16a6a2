"""`botclub`: a club member's command line, and the commands that run and administer
the stack.

Run `botclub --help` for the commands, `botclub COMMAND --help` for one of them.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from botclub import member, reference, search_view
from botclub.failures import CommandFailed, ExitCode, exit_code_lines
from botclub.portfolio import add_portfolio_options, portfolio_block
from botclub.stack_file import DEFAULT_DATA_DIR
from botclub.walk_forward import parse_windows

__all__ = ["main"]

_EPILOG = """\
first steps:
  botclub run                          start the stack (leave it running)
  botclub create-user alice            prints alice's API token
  botclub login --token TOKEN          sign in to the running stack
  botclub strategy create sma.yaml     save a strategy from a file
  botclub backtest "SMA 10/30" --follow
  botclub trades BACKTEST_ID --csv trades.csv
  botclub export BACKTEST_ID report report.html

exit codes:
"""


def main(argv: Sequence[str] | None = None) -> int:
    try:
        try:
            return _execute(argv)
        finally:
            sys.stdout.flush()  # a reader gone shows here, not as an error at exit
    except BrokenPipeError:
        # Nothing more can be said to the reader; stdout points at /dev/null so that the
        # interpreter's last flush has nowhere to fail (Python's own advice for pipes).
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return ExitCode.PIPE_CLOSED


def _execute(argv: Sequence[str] | None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        code: int = args.handler(args)
        return code
    except BrokenPipeError:
        raise
    except CommandFailed as failure:
        print(f"error: {failure}", file=sys.stderr)
        if failure.hint:
            print(f"hint: {failure.hint}", file=sys.stderr)
        return failure.code
    except KeyboardInterrupt:
        return ExitCode.INTERRUPTED
    except Exception as error:  # one line, never a traceback (BOTCLUB_DEBUG=1 shows it)
        if os.environ.get("BOTCLUB_DEBUG"):
            raise
        print(f"error: {type(error).__name__}: {error}", file=sys.stderr)
        print("hint: BOTCLUB_DEBUG=1 shows where it happened", file=sys.stderr)
        return ExitCode.FAILED


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="botclub",
        description="Bot Club Backtest: run the stack, and backtest strategies from a terminal.",
        epilog=_EPILOG + "\n".join(f"  {line}" for line in exit_code_lines()),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _stack_commands(commands)
    _member_commands(commands)
    _strategy_commands(commands)
    return parser


Commands = Any  # argparse's private _SubParsersAction


def _command(
    commands: Commands, name: str, summary: str, handler: Callable[[argparse.Namespace], int]
) -> argparse.ArgumentParser:
    command: argparse.ArgumentParser = commands.add_parser(name, help=summary, description=summary)
    command.set_defaults(handler=handler)
    return command


def _stack_commands(commands: Commands) -> None:
    run = _command(
        commands, "run", "run the whole stack on this machine with a demo backtest", _run
    )
    run.add_argument(
        "--data-dir",
        type=Path,
        default=DEFAULT_DATA_DIR,
        help=f"embedded database, logs and stack.json ({DEFAULT_DATA_DIR})",
    )
    run.add_argument("--port", type=_port, default=8000, help="the API's port (8000)")
    run.add_argument(
        "--services-port", type=_port, default=8001, help="the compute service's port (8001)"
    )
    user = _command(
        commands,
        "create-user",
        "create a user, or give one a new token (printed once)",
        _create_user,
    )
    user.add_argument("name", help="the member's name")
    user.add_argument(
        "--password",
        action="store_true",
        help="also set a password for the dashboard (asked for; read from stdin in a pipe)",
    )
    samples = _command(
        commands, "load-samples", "load the bundled sample series into the database", _load_samples
    )
    samples.add_argument("--force", action="store_true", help="load them again if stored")
    for admin in (user, samples):
        _database_options(admin)
    worker = _command(
        commands,
        "worker",
        "run backtests for a fleet (EXECUTOR=celery) from the broker at BROKER_URL",
        _worker,
    )
    worker.add_argument(
        "--concurrency",
        type=int,
        default=os.cpu_count() or 1,
        help="backtests run at once, one process each (default: the cores)",
    )
    worker.add_argument("--name", help="the worker's name, NAME@HOST (default: celery@HOST)")
    worker.add_argument(
        "--metrics-port",
        type=_port_or_off,
        default=9540,
        help="serve Prometheus metrics of its runs on this port, 0 for none (9540)",
    )
    worker.add_argument(
        "--metrics-host", default="127.0.0.1", help="the address metrics are served on"
    )


def _database_options(command: argparse.ArgumentParser) -> None:
    command.description = (
        f"{command.description}. The database: --mongo-url; else the stack running from "
        "--data-dir when given; else MONGO_URL (and MONGO_DB); else the stack running from "
        f"{DEFAULT_DATA_DIR}. Never another stack's."
    )
    command.add_argument(
        "--data-dir",
        type=Path,
        metavar="DIR",
        help=f"the data folder of the stack `botclub run` runs ({DEFAULT_DATA_DIR})",
    )
    command.add_argument(
        "--mongo-url",
        metavar="URL",
        help="this MongoDB instead (database: MONGO_DB, or bot_club_db)",
    )


def _member_commands(commands: Commands) -> None:
    login = _command(
        commands,
        "login",
        "sign in to a server with an API token",
        lambda a: member.login(a.server, a.token, a.data_dir),
    )
    login.add_argument(
        "--server",
        help="the API's URL (default: that of the stack running from --data-dir)",
    )
    login.add_argument(
        "--data-dir",
        type=Path,
        default=DEFAULT_DATA_DIR,
        help=f"the data folder of the stack to sign in to ({DEFAULT_DATA_DIR})",
    )
    login.add_argument("--token", help="the API token (asked for when left out)")
    _json(
        _command(
            commands, "whoami", "the member signed in, and where", lambda a: member.whoami(a.json)
        )
    )

    for name, summary, handler in (
        ("backtest", "backtest a strategy", _backtest),
        ("optimize", "run a strategy over a grid of parameter values", _optimize),
    ):
        command = _command(commands, name, summary, handler)
        command.add_argument("strategy", help="the strategy's id or name")
        command.add_argument(
            "--from",
            dest="start_date",
            metavar="DATE",
            help="first day (default: the first stored bar)",
        )
        command.add_argument(
            "--to", dest="end_date", metavar="DATE", help="last day (default: the last stored bar)"
        )
        command.add_argument(
            "--timeframe", help="1m 5m 15m 30m 1h 4h 1d 1w (default: the strategy's)"
        )
        command.add_argument("--symbol", help="another symbol than the strategy's")
        command.add_argument(
            "--capital", dest="initial_capital", type=float, help="initial capital (10,000)"
        )
        command.add_argument(
            "--set",
            dest="assignments",
            action="append",
            default=[],
            metavar="NAME=VALUE",
            help="override a parameter (repeatable)",
        )
        command.add_argument(
            "--follow",
            action="store_true",
            help="show the progress live and the statistics at the end",
        )
        _json(command)
        if name == "backtest":
            add_portfolio_options(command)
        if name == "optimize":
            command.add_argument(
                "--grid",
                action="append",
                default=[],
                metavar="NAME=START:STOP:STEP",
                help="values of a parameter: 5:50:5 or 5,10,20 (repeatable)",
            )
            command.add_argument("--constraint", help="combinations to keep, e.g. 'fast < slow'")
            command.add_argument("--objective", help="what to rank by (sharpe_ratio)")
            _search_arguments(command)
            command.add_argument(
                "--walk-forward",
                metavar="TRAIN:TEST[:STEP]",
                help="validate walk-forward: bars (500:100) or durations (365d:90d)",
            )
            command.add_argument(
                "--anchored", action="store_true", help="walk-forward train windows grow"
            )

    follow = _command(
        commands,
        "follow",
        "follow a backtest until it ends, then show its statistics",
        lambda a: member.follow(a.backtest_id, a.json),
    )
    results = _command(
        commands,
        "results",
        "a backtest's status and statistics",
        lambda a: member.results(a.backtest_id, a.json),
    )
    for reader in (follow, results):
        _json(reader).add_argument("backtest_id", help="the backtest's id")
    _command(
        commands,
        "cancel",
        "cancel a queued or running backtest",
        lambda a: member.cancel(a.backtest_id),
    ).add_argument("backtest_id", help="the backtest's id")
    _command(
        commands,
        "delete-backtest",
        "delete a finished backtest and its trades",
        lambda a: member.delete_backtest(a.backtest_id),
    ).add_argument("backtest_id", help="the backtest's id")
    trades = _json(
        _command(
            commands,
            "trades",
            "every trade of a completed backtest",
            lambda a: member.trades(a.backtest_id, a.csv, a.json),
        )
    )
    trades.add_argument("backtest_id", help="the backtest's id")
    trades.add_argument(
        "--csv", type=Path, metavar="FILE", help="write them to a CSV file (as export does)"
    )
    exported = _command(
        commands,
        "export",
        "save a completed backtest's report.html, trades.csv or ranking.csv",
        lambda a: member.export(a.backtest_id, a.what, a.file),
    )
    exported.add_argument("backtest_id", help="the backtest's id")
    exported.add_argument(
        "what", choices=sorted(member.EXPORTS), help="report, trades, or an optimization's ranking"
    )
    exported.add_argument("file", type=Path, help="where to save it")
    _json(
        _command(
            commands,
            "backtests",
            "a strategy's backtests and optimizations, newest first, with their parameters",
            lambda a: member.backtests(a.strategy, a.json),
        )
    ).add_argument("strategy", help="the strategy's id or name")

    _json(_command(commands, "symbols", "the stored market data", lambda a: member.symbols(a.json)))
    reference_command = _json(
        _command(
            commands,
            "functions",
            "the functions a rule may call, or one of them in full",
            lambda a: reference.functions(a.name, a.json),
        )
    )
    reference_command.add_argument("name", nargs="?", help="a function's name, e.g. adx")
    upload = _json(
        _command(
            commands, "import", "upload a CSV or Parquet file of bars as a symbol you own", _import
        )
    )
    upload.add_argument("symbol", help="the symbol to store the bars as, e.g. ACME")
    upload.add_argument("file", type=Path, help="a .csv, .parquet or .pq file")
    upload.add_argument(
        "--append", action="store_true", help="add the bars newer than the stored ones"
    )
    upload.add_argument(
        "--drop-duplicates",
        action="store_true",
        help="keep the first of rows sharing a time instead of refusing the file",
    )
    upload.add_argument(
        "--session-start-minutes",
        type=int,
        metavar="MINUTES",
        help="when a trading day starts, in minutes after 00:00 UTC",
    )
    delete = _command(
        commands,
        "delete-symbol",
        "delete a symbol you imported, and its bars",
        lambda a: member.delete_symbol(a.symbol, a.force),
    )
    delete.add_argument("symbol", help="the symbol")
    delete.add_argument(
        "--force",
        action="store_true",
        help="delete it even though strategies use it (finished backtests stay readable)",
    )


def _strategy_commands(commands: Commands) -> None:
    strategy = commands.add_parser(
        "strategy",
        help="create, list, show, edit or delete strategies",
        description="A member's strategies.",
    )
    actions = strategy.add_subparsers(dest="action", required=True, metavar="ACTION")
    create = _json(
        _command(
            actions,
            "create",
            "save a strategy from a JSON or YAML file",
            lambda a: member.strategy_create(a.file, a.json),
        )
    )
    create.add_argument("file", type=Path, help="the strategy's fields (.json, .yaml or .yml)")
    _json(_command(actions, "list", "your strategies", lambda a: member.strategy_list(a.json)))
    _command(
        actions,
        "show",
        "a strategy as JSON (edit it and pass it to `edit`)",
        lambda a: member.strategy_show(a.strategy),
    ).add_argument("strategy", help="the strategy's id or name")
    edit = _json(
        _command(
            actions,
            "edit",
            "replace a strategy's fields with a file's",
            lambda a: member.strategy_edit(a.strategy, a.file, a.json),
        )
    )
    edit.add_argument("strategy", help="the strategy's id or name")
    edit.add_argument("file", type=Path, help="the new fields (.json, .yaml or .yml)")
    _command(
        actions,
        "delete",
        "delete a strategy (its backtests stay readable)",
        lambda a: member.strategy_delete(a.strategy),
    ).add_argument("strategy", help="the strategy's id or name")


def _json(command: argparse.ArgumentParser) -> argparse.ArgumentParser:
    command.add_argument("--json", action="store_true", help="print the API's JSON instead")
    return command


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is not a port: use 1 to 65535")
    return port


def _port_or_off(text: str) -> int:
    """A port, or 0 for none."""
    return 0 if text.strip() == "0" else _port(text)


def _version() -> str:
    try:
        return version("bot-club-backtest")
    except PackageNotFoundError:
        return "unknown"


# The stack's commands import the services' code when they run, so `botclub --help` and
# the member commands (which use the API alone) start without it.


def _run(args: argparse.Namespace) -> int:
    from botclub.local_stack import StackError
    from botclub.run_stack import run

    try:
        return run(args.data_dir, args.port, args.services_port)
    except StackError as error:
        raise CommandFailed(str(error)) from None


def _create_user(args: argparse.Namespace) -> int:
    from botclub.admin import DatabaseChoice, create_user

    return create_user(args.name, args.password, DatabaseChoice(args.mongo_url, args.data_dir))


def _load_samples(args: argparse.Namespace) -> int:
    from botclub.admin import DatabaseChoice, load_samples

    return load_samples(args.force, DatabaseChoice(args.mongo_url, args.data_dir))


def _worker(args: argparse.Namespace) -> int:
    from shared.metrics_dir import share_metrics_with_children

    share_metrics_with_children()  # before anything imports prometheus_client
    from backend_services.config import Settings
    from backend_services.services.backtest.execution.fleet import start_worker

    if args.concurrency < 1:
        raise CommandFailed("--concurrency must be at least 1", code=ExitCode.USAGE)
    metrics = (args.metrics_host, args.metrics_port) if args.metrics_port else None
    start_worker(Settings(), args.concurrency, args.name, metrics)
    return ExitCode.OK


def _backtest(args: argparse.Namespace) -> int:
    options = _run_options(args) | {"portfolio": portfolio_block(args)}
    return member.run(args.strategy, options, args.assignments, None, args.follow, args.json)


def _search_arguments(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--method",
        choices=["grid", "random", "tpe"],
        help="grid: every combination (the default); random or tpe: --trials of them",
    )
    command.add_argument(
        "--range",
        dest="ranges",
        action="append",
        default=[],
        metavar="NAME=LOW:HIGH[:STEP]",
        help="a random or tpe search's range: 2:50 whole numbers, 0.01:0.2 any (repeatable)",
    )
    command.add_argument("--trials", type=int, help="a random or tpe search's budget")
    command.add_argument("--seed", type=int, help="the same seed draws the same trials")


def _optimize(args: argparse.Namespace) -> int:
    options = ("method", "trials", "seed", "constraint", "objective")
    sweep = search_view.sweep_of(
        member.parse_grid(args.grid), args.ranges, {name: getattr(args, name) for name in options}
    )
    validation = parse_windows(args.walk_forward, args.anchored) if args.walk_forward else None
    return member.run(
        args.strategy,
        _run_options(args),
        args.assignments,
        sweep,
        args.follow,
        args.json,
        validation,
    )


def _run_options(args: argparse.Namespace) -> dict[str, Any]:
    names = ("start_date", "end_date", "timeframe", "symbol", "initial_capital")
    return {name: getattr(args, name) for name in names}


def _import(args: argparse.Namespace) -> int:
    query = {
        "mode": "append" if args.append else None,
        "duplicates": "drop" if args.drop_duplicates else None,
        "session_start_minutes": args.session_start_minutes,
    }
    return member.import_file(args.symbol, args.file, query, args.json)


if __name__ == "__main__":
    sys.exit(main())

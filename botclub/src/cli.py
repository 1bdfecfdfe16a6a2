"""`botclub`: run the stack and administer its data, against MONGO_URL / MONGO_DB.

botclub run [--data-dir D]       the whole stack with a demo backtest, until Ctrl-C
botclub create-user NAME         create a user (or give it a new token); prints the token
botclub load-samples [--force]   load the bundled sample series (GOOG daily, EURUSD hourly)
botclub import SYMBOL FILE       import OHLCV bars from a CSV or Parquet file as SYMBOL
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from pydantic import ValidationError

from backend.config import Settings
from backend.tokens import issue_token
from backend.users import USERS_COLLECTION
from backend_services.market_data.importer import import_table, load_missing_samples
from backend_services.market_data.store import ensure_indexes
from backend_services.market_data.table_files import read_file
from backend_services.market_data.validation import InvalidBars
from botclub.local_stack import StackError
from shared.contracts.market_data import DuplicatePolicy, ImportMode, ImportOptions
from shared.market_data.bars import MarketDataError
from shared.market_data.catalog import SymbolEntry
from shared.mongo import sync_client


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "run":
            from botclub.run_stack import run  # imported here: only this command needs it

            return run(Path(args.data_dir), args.port, args.services_port)
        return _administer(args)
    except InvalidBars as invalid:
        print(f"error: refused\n{invalid.report.model_dump_json(indent=2)}", file=sys.stderr)
        return 1
    except (MarketDataError, StackError, OSError, ValidationError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="botclub", description=(__doc__ or "").splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run the whole stack with a demo backtest")
    run.add_argument("--data-dir", default=".data", help="embedded database and logs (.data)")
    run.add_argument("--port", type=int, default=8000, help="backend port (8000)")
    run.add_argument("--services-port", type=int, default=8001, help="backend_services port (8001)")
    create_user = commands.add_parser("create-user", help="create a user and print its token")
    create_user.add_argument("name")
    load_samples = commands.add_parser("load-samples", help="load the bundled sample data")
    load_samples.add_argument("--force", action="store_true", help="reload symbols already stored")
    import_file = commands.add_parser("import", help="import bars from a CSV or Parquet file")
    import_file.add_argument("symbol")
    import_file.add_argument("file", help="*.csv, or *.parquet / *.pq")
    import_file.add_argument(
        "--append", action="store_true", help="add the bars newer than the stored ones"
    )
    import_file.add_argument(
        "--drop-duplicates",
        action="store_true",
        help="keep the first of rows sharing a timestamp instead of refusing the file",
    )
    import_file.add_argument(
        "--session-start-minutes",
        type=int,
        help="when a trading day starts, minutes after 00:00 UTC (-120: 22:00 the day before)",
    )
    return parser


def _administer(args: argparse.Namespace) -> int:
    settings = Settings()
    client = sync_client(settings.mongo_url)
    database = client[settings.mongo_db]
    try:
        if args.command == "create-user":
            user, token = issue_token(database[USERS_COLLECTION], args.name)
            print(token)
            print(
                f"user {user.name} ({user.id}): keep this token, it is shown once", file=sys.stderr
            )
            return 0
        ensure_indexes(database)
        if args.command == "load-samples":
            for entry in load_missing_samples(database, reload=args.force):
                print(f"{entry.symbol}: {_describe(entry)}")
        else:
            options = ImportOptions(
                symbol=args.symbol,
                mode=ImportMode.APPEND if args.append else ImportMode.REPLACE,
                duplicates=DuplicatePolicy.DROP if args.drop_duplicates else DuplicatePolicy.REFUSE,
                session_start_minutes=args.session_start_minutes,
            )
            outcome = import_table(database, read_file(Path(args.file)), options)
            print(outcome.report.model_dump_json(indent=2))
            if outcome.entry is not None:
                print(f"{args.symbol}: {_describe(outcome.entry)}, version {outcome.entry.version}")
        return 0
    finally:
        client.close()


def _describe(entry: SymbolEntry) -> str:
    return f"{entry.rows} {entry.timeframe} bars, {entry.first:%Y-%m-%d} to {entry.last:%Y-%m-%d}"


if __name__ == "__main__":
    sys.exit(main())

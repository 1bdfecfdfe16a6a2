"""Commands that administer the database directly: users and the bundled samples.

Which database, first found: `--mongo-url`; the stack running from `--data-dir` when
given; MONGO_URL; the stack running from the default data folder (`botclub run`'s).
Never another stack's: when none of these answers, the command ends in one line saying
what it tried."""

from __future__ import annotations

import getpass
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from pymongo.database import Database
from pymongo.errors import PyMongoError

from backend.config import Settings
from backend.services.passwords import MIN_PASSWORD_LENGTH, PasswordTooShort, set_password
from backend.stores.tokens import issue_token
from backend.stores.users import USERS_COLLECTION
from botclub.failures import CommandFailed, ExitCode
from botclub.local_stack import mongo_reachable
from botclub.stack_file import DEFAULT_DATA_DIR, NoStackRunning, running_stack
from shared.market_data.catalog import SymbolEntry
from shared.mongo import Document, sync_client

__all__ = ["DatabaseChoice", "choose_database", "create_user", "load_samples"]

_REACH_TIMEOUT_S = 3.0


@dataclass(frozen=True)
class DatabaseChoice:
    """Where the admin commands are told to look: `--mongo-url` and `--data-dir`, each
    None when not given on the command line."""

    mongo_url: str | None = None
    data_dir: Path | None = None


def create_user(name: str, with_password: bool, where: DatabaseChoice) -> int:
    password = _new_password() if with_password else None
    with _database(where) as database:
        user, token = issue_token(database[USERS_COLLECTION], name)
        if password is not None:
            set_password(database[USERS_COLLECTION], user, password)
            print(f"user {user.name}: password set; sign in to the dashboard", file=sys.stderr)
    print(token)
    print(
        f"user {user.name} ({user.id}): keep this token, it is shown once.\n"
        f"Sign in with it: botclub login --token {token}",
        file=sys.stderr,
    )
    return ExitCode.OK


def _new_password() -> str:
    """Asked twice on a terminal; read from the first line of standard input otherwise."""
    if not sys.stdin.isatty():
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass("password: ")
        if getpass.getpass("again: ") != password:
            raise CommandFailed("the two passwords differ", ExitCode.USAGE)
    if len(password) < MIN_PASSWORD_LENGTH:
        raise CommandFailed(str(PasswordTooShort()), ExitCode.USAGE)
    return password


def load_samples(force: bool, where: DatabaseChoice) -> int:
    # Imported here: only this command needs the importer (and pandas with it).
    from backend_services.market_data.importer import load_missing_samples
    from backend_services.market_data.store import ensure_indexes

    with _database(where) as database:
        ensure_indexes(database)
        loaded = load_missing_samples(database, reload=force)
    for entry in loaded:
        print(f"{entry.symbol}: {describe(entry)}")
    if not loaded:
        print("the samples are loaded already (--force loads them again)", file=sys.stderr)
    return ExitCode.OK


def describe(entry: SymbolEntry) -> str:
    return f"{entry.rows} {entry.timeframe} bars, {entry.first:%Y-%m-%d} to {entry.last:%Y-%m-%d}"


_OTHER_WAYS = "name a running stack's data folder (--data-dir D) or MongoDB (--mongo-url URL)"


@contextmanager
def _database(where: DatabaseChoice) -> Iterator[Database[Document]]:
    url, name, found_by = choose_database(where)
    if not mongo_reachable(url, _REACH_TIMEOUT_S):
        raise CommandFailed(
            f"no MongoDB answers at {url} ({found_by})", ExitCode.UNREACHABLE, _OTHER_WAYS
        )
    client = sync_client(url)
    try:
        yield client[name]
    except PyMongoError as error:
        raise CommandFailed(f"MongoDB at {url}: {error}", ExitCode.UNREACHABLE) from None
    finally:
        client.close()


def choose_database(where: DatabaseChoice) -> tuple[str, str, str]:
    """MongoDB's address, the database's name, and in words where they were found."""
    settings = Settings()
    if where.mongo_url:
        return where.mongo_url, settings.mongo_db, "--mongo-url"
    if where.data_dir is not None:
        return _stack_database(where.data_dir, also_tried="")
    if os.environ.get("MONGO_URL"):
        return settings.mongo_url, settings.mongo_db, "MONGO_URL"
    return _stack_database(DEFAULT_DATA_DIR, also_tried=", and MONGO_URL is not set")


def _stack_database(data_dir: Path, also_tried: str) -> tuple[str, str, str]:
    try:
        stack = running_stack(data_dir)
    except NoStackRunning as missing:
        raise CommandFailed(
            f"{missing}{also_tried}",
            ExitCode.UNREACHABLE,
            f"start it with `botclub run --data-dir {data_dir}`, or {_OTHER_WAYS}",
        ) from None
    found_by = f"the stack running from {data_dir.resolve()}, pid {stack.pid}"
    return stack.mongo_url, stack.mongo_db, found_by

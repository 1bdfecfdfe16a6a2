"""Commands that administer the database directly: users and the bundled samples.

They use MONGO_URL / MONGO_DB when set, else the database of the stack `botclub run` is
running on this machine, else MongoDB's default address; a database that does not answer
ends the command in one line saying how to point it at one."""

from __future__ import annotations

import getpass
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from pymongo.database import Database
from pymongo.errors import PyMongoError

from backend.config import Settings
from backend.passwords import MIN_PASSWORD_LENGTH, PasswordTooShort, set_password
from backend.tokens import issue_token
from backend.users import USERS_COLLECTION
from botclub.failures import CommandFailed, ExitCode
from botclub.local_stack import mongo_reachable
from botclub.stack_file import running_stack
from shared.market_data.catalog import SymbolEntry
from shared.mongo import Document, sync_client

__all__ = ["create_user", "load_samples"]

_REACH_TIMEOUT_S = 3.0


def create_user(name: str, with_password: bool) -> int:
    password = _new_password() if with_password else None
    with _database() as database:
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


def load_samples(force: bool) -> int:
    # Imported here: only this command needs the importer (and pandas with it).
    from backend_services.market_data.importer import load_missing_samples
    from backend_services.market_data.store import ensure_indexes

    with _database() as database:
        ensure_indexes(database)
        loaded = load_missing_samples(database, reload=force)
    for entry in loaded:
        print(f"{entry.symbol}: {describe(entry)}")
    if not loaded:
        print("the samples are loaded already (--force loads them again)", file=sys.stderr)
    return ExitCode.OK


def describe(entry: SymbolEntry) -> str:
    return f"{entry.rows} {entry.timeframe} bars, {entry.first:%Y-%m-%d} to {entry.last:%Y-%m-%d}"


@contextmanager
def _database() -> Iterator[Database[Document]]:
    url, name, found_by = _where()
    if not mongo_reachable(url, _REACH_TIMEOUT_S):
        raise CommandFailed(
            f"no MongoDB answers at {url} ({found_by})",
            ExitCode.UNREACHABLE,
            "start the stack with `botclub run` in another terminal (these commands then "
            "find its database), or set MONGO_URL to a running MongoDB",
        )
    client = sync_client(url)
    try:
        yield client[name]
    except PyMongoError as error:
        raise CommandFailed(f"MongoDB at {url}: {error}", ExitCode.UNREACHABLE) from None
    finally:
        client.close()


def _where() -> tuple[str, str, str]:
    """MongoDB's address, the database's name, and where they were found."""
    settings = Settings()
    if os.environ.get("MONGO_URL"):
        return settings.mongo_url, settings.mongo_db, "MONGO_URL"
    stack = running_stack()
    if stack is not None:
        return stack.mongo_url, stack.mongo_db, f"the stack `botclub run` started, pid {stack.pid}"
    return settings.mongo_url, settings.mongo_db, "the default address; no stack is running"

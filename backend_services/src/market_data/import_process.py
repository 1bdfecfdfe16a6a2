"""The import process: it takes files one after another from its service, parses,
checks and stores each, and answers what happened, within a memory limit of its own.

Its address space is capped (RLIMIT_AS) at the limit it is started with, so a file that
needs more memory fails an allocation here, answered as too large, and the process then
exits to be replaced: the service and the other imports never see that memory pressure.
"""

from __future__ import annotations

import logging
import resource
from enum import StrEnum
from multiprocessing.connection import Connection
from pathlib import Path

from pydantic import BaseModel
from pymongo.database import Database
from pymongo.errors import OperationFailure, PyMongoError

from backend_services.child_processes import bind_to_parent
from backend_services.market_data.bar_files import BarFiles
from backend_services.market_data.import_limits import ImportLimits, TooLarge
from backend_services.market_data.importer import NameTaken, NotOwner, import_table
from backend_services.market_data.store import ImportConflict, ensure_indexes
from backend_services.market_data.table_files import read_table
from backend_services.market_data.validation import InvalidBars
from shared.contracts.market_data import ImportOptions, ImportOutcome, ImportReport, TableFormat
from shared.market_data.bars import MarketDataError
from shared.mongo import Document, sync_client

__all__ = [
    "READY",
    "ImportAnswer",
    "ImportJob",
    "ImportRefusal",
    "run_import",
    "serve_imports",
]

logger = logging.getLogger(__name__)
IMPORT_NICENESS = 10
READY = b"ready"


class ImportRefusal(StrEnum):
    INVALID = "invalid"  # the rows or the file itself
    TOO_LARGE = "too_large"  # beyond the import's bounds
    OUT_OF_MEMORY = "out_of_memory"  # beyond the import process's memory limit
    NOT_OWNER = "not_owner"
    CONFLICT = "conflict"
    DATABASE_REFUSED = "database_refused"  # a write refused (a full disk, say)
    DATABASE_UNREACHABLE = "database_unreachable"


class ImportJob(BaseModel):
    """What the service sends before a file's bytes."""

    table_format: TableFormat
    options: ImportOptions


class ImportAnswer(BaseModel):
    """An import's outcome, or why it was refused (with the report when rows were)."""

    outcome: ImportOutcome | None = None
    refusal: ImportRefusal | None = None
    message: str = ""
    report: ImportReport | None = None
    code: int | None = None  # MongoDB's error code, for a write it refused


def serve_imports(
    connection: Connection,
    parent: int,
    mongo_url: str,
    mongo_db: str,
    limits_json: str,
    files_dir: str = "",
) -> None:
    """The import process's life: READY once set up, then a job and its file in, an
    answer out, until the service closes the connection or an import ran out of
    memory. Each version stored is also kept in `files_dir` (none when empty)."""
    bind_to_parent(parent, IMPORT_NICENESS)
    limits = ImportLimits.model_validate_json(limits_json)
    files = BarFiles(Path(files_dir)) if files_dir else None
    client = sync_client(mongo_url)  # connects at its first use
    memory_bytes = limits.memory_mb << 20
    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    try:
        connection.send_bytes(READY)
        while True:
            job = ImportJob.model_validate_json(connection.recv_bytes())
            content = connection.recv_bytes()
            answer = run_import(client[mongo_db], content, job, limits, files)
            del content
            connection.send_bytes(answer.model_dump_json().encode())
            if answer.refusal is ImportRefusal.OUT_OF_MEMORY:
                return
    except (EOFError, ConnectionError):  # the service closed the connection (or reset it): done
        return
    finally:
        client.close()


def run_import(
    db: Database[Document],
    content: bytes,
    job: ImportJob,
    limits: ImportLimits,
    files: BarFiles | None = None,
) -> ImportAnswer:
    """Parse, check and store one file; what happened, as the answer to send."""
    try:
        table = read_table(content, job.table_format, limits)
        ensure_indexes(db)
        outcome = import_table(db, table, job.options, limits.max_rows, files)
        return ImportAnswer(outcome=outcome)
    except MemoryError:
        pass  # answered below, once the exception has let go of what the import held
    except InvalidBars as invalid:
        return ImportAnswer(
            refusal=ImportRefusal.INVALID, message=str(invalid), report=invalid.report
        )
    except TooLarge as too_large:
        return ImportAnswer(refusal=ImportRefusal.TOO_LARGE, message=str(too_large))
    except NotOwner as not_owner:
        return ImportAnswer(refusal=ImportRefusal.NOT_OWNER, message=str(not_owner))
    except (ImportConflict, NameTaken) as conflict:
        return ImportAnswer(refusal=ImportRefusal.CONFLICT, message=str(conflict))
    except MarketDataError as refused:
        return ImportAnswer(refusal=ImportRefusal.INVALID, message=str(refused))
    except OperationFailure as database_refused:
        return ImportAnswer(
            refusal=ImportRefusal.DATABASE_REFUSED,
            message=str(database_refused),
            code=database_refused.code,
        )
    except PyMongoError as database_error:
        return ImportAnswer(refusal=ImportRefusal.DATABASE_UNREACHABLE, message=str(database_error))
    except Exception:  # a reader's failure no check foresaw: the file's, said as such
        logger.exception("an import of %s failed", job.options.symbol)
        return ImportAnswer(
            refusal=ImportRefusal.INVALID,
            message=f"this {job.table_format.value} file could not be read as a table of bars",
        )
    message = (
        f"importing this file needs more than the {limits.memory_mb:,} MiB of memory an "
        "import may use; nothing was stored: split it and append the parts (mode=append)"
    )
    return ImportAnswer(refusal=ImportRefusal.OUT_OF_MEMORY, message=message)

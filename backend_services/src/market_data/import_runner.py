"""Uploads imported in a process of their own: parsing and checking a million rows is
seconds of CPU that the event loop must never spend."""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from enum import StrEnum
from typing import Any

from pydantic import BaseModel

from backend_services.child_processes import bind_to_parent
from backend_services.market_data.importer import NotOwner, import_table
from backend_services.market_data.store import ImportConflict, ensure_indexes
from backend_services.market_data.table_files import read_table
from backend_services.market_data.validation import InvalidBars
from shared.contracts.market_data import ImportOptions, ImportOutcome, ImportReport, TableFormat
from shared.errors import Conflict, Forbidden, InvalidInput, Unavailable
from shared.market_data.bars import MarketDataError
from shared.mongo import sync_client

logger = logging.getLogger(__name__)
IMPORT_NICENESS = 10


class ImportRefusal(StrEnum):
    INVALID = "invalid"  # the rows or the file itself
    NOT_OWNER = "not_owner"
    CONFLICT = "conflict"


class ImportAnswer(BaseModel):
    """An import's outcome, or why it was refused (with the report when rows were)."""

    outcome: ImportOutcome | None = None
    refusal: ImportRefusal | None = None
    message: str = ""
    report: ImportReport | None = None


class ImportRunner:
    """One spawned process that runs imports one after another. A refused import
    raises the domain error that says why: InvalidInput (with the report when rows
    were refused), Forbidden (another user's symbol), Conflict (another import switched
    the symbol first), Unavailable (the import process died; a new one is started)."""

    def __init__(self, mongo_url: str, mongo_db: str) -> None:
        self._mongo_url = mongo_url
        self._mongo_db = mongo_db
        self._pool = self._new_pool()

    async def run(
        self, content: bytes, table_format: TableFormat, options: ImportOptions
    ) -> ImportOutcome:
        loop = asyncio.get_running_loop()
        try:
            answer = await loop.run_in_executor(
                self._pool,
                run_import,
                self._mongo_url,
                self._mongo_db,
                content,
                table_format,
                options.model_dump_json(),
            )
        except BrokenProcessPool:
            logger.error("the import process died; starting a new one")
            self._pool.shutdown(wait=False)
            self._pool = self._new_pool()
            raise Unavailable("the import stopped unexpectedly; nothing was stored") from None
        return _outcome_or_refusal(ImportAnswer.model_validate_json(answer))

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    @staticmethod
    def _new_pool() -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            max_workers=1,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=bind_to_parent,
            initargs=(os.getpid(), IMPORT_NICENESS),
        )


def _outcome_or_refusal(answer: ImportAnswer) -> ImportOutcome:
    if answer.refusal is ImportRefusal.NOT_OWNER:
        raise Forbidden(answer.message)
    if answer.refusal is ImportRefusal.CONFLICT:
        raise Conflict(answer.message)
    if answer.refusal is not None or answer.outcome is None:
        detail: dict[str, Any] = {"msg": answer.message}
        if answer.report is not None:
            detail["report"] = answer.report.model_dump(mode="json")
        raise InvalidInput(detail)
    return answer.outcome


def run_import(
    mongo_url: str, mongo_db: str, content: bytes, table_format: TableFormat, options_json: str
) -> str:
    """In the import process: parse, check and store; the answer as JSON."""
    client = sync_client(mongo_url)
    try:
        db = client[mongo_db]
        ensure_indexes(db)
        options = ImportOptions.model_validate_json(options_json)
        outcome = import_table(db, read_table(content, table_format), options)
        answer = ImportAnswer(outcome=outcome)
    except InvalidBars as invalid:
        answer = ImportAnswer(
            refusal=ImportRefusal.INVALID, message=str(invalid), report=invalid.report
        )
    except NotOwner as not_owner:
        answer = ImportAnswer(refusal=ImportRefusal.NOT_OWNER, message=str(not_owner))
    except ImportConflict as conflict:
        answer = ImportAnswer(refusal=ImportRefusal.CONFLICT, message=str(conflict))
    except MarketDataError as refused:
        answer = ImportAnswer(refusal=ImportRefusal.INVALID, message=str(refused))
    finally:
        client.close()
    return answer.model_dump_json()

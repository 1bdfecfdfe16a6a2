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

from pydantic import BaseModel

from backend_services.market_data.bars import MarketDataError
from backend_services.market_data.importer import (
    ImportOptions,
    ImportOutcome,
    NotOwner,
    import_table,
)
from backend_services.market_data.store import ImportConflict, ensure_indexes
from backend_services.market_data.table_files import TableFormat, read_table
from backend_services.market_data.validation import ImportReport, InvalidBars
from backend_services.mongo import sync_client

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


class ImportsUnavailable(RuntimeError):
    """The import process died; a new one is started for the next upload."""


class ImportRunner:
    """One spawned process that runs imports one after another."""

    def __init__(self, mongo_url: str, mongo_db: str) -> None:
        self._mongo_url = mongo_url
        self._mongo_db = mongo_db
        self._pool = self._new_pool()

    async def run(
        self, content: bytes, table_format: TableFormat, options: ImportOptions
    ) -> ImportAnswer:
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
            raise ImportsUnavailable(
                "the import stopped unexpectedly; nothing was stored"
            ) from None
        return ImportAnswer.model_validate_json(answer)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    @staticmethod
    def _new_pool() -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            max_workers=1,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=os.nice,
            initargs=(IMPORT_NICENESS,),
        )


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

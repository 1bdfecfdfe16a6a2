"""Uploads imported in processes of their own: parsing and checking a million rows is
seconds of CPU that the event loop must never spend.

`slots` import processes run imports side by side; each import is held to the limits
(`ImportLimits`: rows, columns, memory, time), and a member has one import at a time, so
a member never holds more than one slot. An import past its time
limit is stopped by killing its process, which a new one replaces: a slow or huge
upload costs its member a refusal and nobody else more than its slot for that long.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
from collections.abc import Iterator
from typing import Any

from pymongo.errors import ConnectionFailure, OperationFailure

from backend_services.market_data.import_limits import ImportLimits
from backend_services.market_data.import_process import (
    READY,
    ImportAnswer,
    ImportJob,
    ImportRefusal,
    serve_imports,
)
from shared.contracts.market_data import ImportOptions, ImportOutcome, TableFormat
from shared.errors import Conflict, Forbidden, InvalidInput, PayloadTooLarge, Unavailable

__all__ = ["ImportRunner"]

logger = logging.getLogger(__name__)
_SPAWN = multiprocessing.get_context("spawn")
# Read by an import process as it starts: Arrow's own allocator reserves address space a
# gigabyte at a time, and the C library 64 MiB per thread, which the import's memory
# limit (its address space) would count as used. So both allocate through the C
# library, in at most two arenas: an idle import process then takes 450 MiB, not 1.8 GiB.
_ALLOCATOR_ENVIRONMENT = {"ARROW_DEFAULT_MEMORY_POOL": "system", "MALLOC_ARENA_MAX": "2"}


class ImportProcessDied(Exception):
    """The import process ended before it answered."""


class _ImportProcess:
    """One import process and the pipe to it; its calls block (run them in a thread)."""

    def __init__(self, mongo_url: str, mongo_db: str, limits: ImportLimits, files_dir: str) -> None:
        self._connection, child_end = _SPAWN.Pipe()
        self._process = _SPAWN.Process(
            target=serve_imports,
            args=(
                child_end,
                os.getpid(),
                mongo_url,
                mongo_db,
                limits.model_dump_json(),
                files_dir,
            ),
            name="import",
            daemon=True,
        )
        self._process.start()
        child_end.close()
        self._ready = False

    def wait_ready(self) -> None:
        """Wait until the process has started (a second or two, once)."""
        if self._ready:
            return
        try:
            if self._connection.recv_bytes() != READY:
                raise ImportProcessDied
        except (EOFError, OSError):
            raise ImportProcessDied from None
        self._ready = True

    def exchange(self, job: ImportJob, content: bytes) -> ImportAnswer:
        try:
            self._connection.send_bytes(job.model_dump_json().encode())
            self._connection.send_bytes(content)
            return ImportAnswer.model_validate_json(self._connection.recv_bytes())
        except (EOFError, OSError):
            raise ImportProcessDied from None

    def alive(self) -> bool:
        return self._process.is_alive()

    def kill(self) -> None:
        self._process.kill()

    def reap(self) -> None:
        """Wait for the killed process to end (milliseconds)."""
        self._process.join()
        self._connection.close()

    def close(self) -> None:
        """Let an idle process end."""
        self._connection.close()
        self._process.join()


class ImportRunner:
    """Imports run by a pool of import processes. A refused import raises the domain
    error that says why: InvalidInput (with the report when rows were refused),
    PayloadTooLarge (beyond the import's bounds, its memory or its time), Forbidden
    (another user's symbol), Conflict (a symbol named alike, another import switched
    the symbol first, or the member's other import still runs); MongoDB's errors as
    PyMongo raised them, for the one error path to answer. An import process that dies
    is replaced, its import refused as too large: what kills it is nearly always the
    file (an allocation failing in native code past the memory limit)."""

    def __init__(
        self,
        mongo_url: str,
        mongo_db: str,
        limits: ImportLimits,
        slots: int,
        files_dir: str = "",
    ) -> None:
        """`files_dir`: where imported versions are also kept for this machine's workers
        (`bar_files`); empty, nowhere."""
        for name, value in _ALLOCATOR_ENVIRONMENT.items():
            os.environ.setdefault(name, value)  # inherited by the import processes
        self._mongo = (mongo_url, mongo_db)
        self._limits = limits
        self._files_dir = files_dir
        self._free: asyncio.Queue[_ImportProcess] = asyncio.Queue()
        for _ in range(slots):
            self._free.put_nowait(self._start())
        self._reaping: set[asyncio.Task[None]] = set()
        self._importing: set[str | None] = set()

    async def run(
        self, content: bytes, table_format: TableFormat, options: ImportOptions
    ) -> ImportOutcome:
        job = ImportJob(table_format=table_format, options=options)
        with self._turn_of(options.owner_id):
            process = await self._free.get()
            if not process.alive():  # ended while idle (killed from outside, say)
                process = self._replaced(process)
            reusable = False
            try:
                await self._started(process)
                answer = await asyncio.wait_for(
                    asyncio.to_thread(process.exchange, job, content), self._limits.timeout_s
                )
                reusable = answer.refusal is not ImportRefusal.OUT_OF_MEMORY
            except TimeoutError:
                logger.warning("an import of %s ran out of time; stopping it", options.symbol)
                raise PayloadTooLarge(
                    f"importing this file took longer than the {self._limits.timeout_s:g} s an "
                    "import may take, and was stopped; nothing was stored: split it and "
                    "append the parts (mode=append)"
                ) from None
            except ImportProcessDied:
                logger.error("the import process died; starting a new one")
                raise PayloadTooLarge(
                    "the import stopped while reading this file: it needs more than the "
                    f"{self._limits.memory_mb:,} MiB of memory an import may use, or is not "
                    "what it seems; nothing was stored"
                ) from None
            finally:  # a cancelled request's import is stopped too: its process is busy
                self._free.put_nowait(process if reusable else self._replaced(process))
        return _outcome_or_refusal(answer)

    def close(self) -> None:
        while not self._free.empty():
            self._free.get_nowait().close()

    @staticmethod
    async def _started(process: _ImportProcess) -> None:
        """Wait for a new process to start (not counted as the import's time)."""
        try:
            await asyncio.to_thread(process.wait_ready)
        except ImportProcessDied:
            raise Unavailable("the import process could not start; try again shortly") from None

    def _start(self) -> _ImportProcess:
        return _ImportProcess(*self._mongo, self._limits, self._files_dir)

    def _replaced(self, process: _ImportProcess) -> _ImportProcess:
        """A new import process in place of `process`, which is killed (and reaped in
        the background)."""
        process.kill()
        reaping = asyncio.create_task(asyncio.to_thread(process.reap))
        self._reaping.add(reaping)
        reaping.add_done_callback(self._reaping.discard)
        return self._start()

    @contextlib.contextmanager
    def _turn_of(self, member: str | None) -> Iterator[None]:
        """One import at a time per member: a second one meanwhile is refused, so that
        no member's uploads, waiting in line, hold the service's request slots."""
        if member in self._importing:
            raise Conflict(
                "another upload of yours is being imported; send this one when it has finished"
            )
        self._importing.add(member)
        try:
            yield
        finally:
            self._importing.discard(member)


def _outcome_or_refusal(answer: ImportAnswer) -> ImportOutcome:
    if answer.refusal is ImportRefusal.DATABASE_REFUSED:
        raise OperationFailure(answer.message, answer.code)
    if answer.refusal is ImportRefusal.DATABASE_UNREACHABLE:
        raise ConnectionFailure(answer.message)
    if answer.refusal is ImportRefusal.NOT_OWNER:
        raise Forbidden(answer.message)
    if answer.refusal is ImportRefusal.CONFLICT:
        raise Conflict(answer.message)
    if answer.refusal in (ImportRefusal.TOO_LARGE, ImportRefusal.OUT_OF_MEMORY):
        raise PayloadTooLarge(answer.message)
    if answer.report is not None:
        report = answer.report.model_dump(mode="json")
        detail: dict[str, Any] = {"msg": answer.message, "report": report}
        raise InvalidInput(detail)
    if answer.refusal is not None or answer.outcome is None:
        raise InvalidInput(answer.message)
    return answer.outcome

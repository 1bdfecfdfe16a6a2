"""Settings of the compute service, read from the environment."""

from __future__ import annotations

import os
from typing import Literal

from pydantic import Field

from backend_services.market_data.import_limits import (
    DEFAULT_MAX_COLUMNS,
    DEFAULT_MAX_ROWS,
    DEFAULT_MEMORY_MB,
    DEFAULT_TIMEOUT_S,
    ImportLimits,
)
from shared.settings import SharedSettings


class Settings(SharedSettings):
    service_port: int = Field(default=8001, alias="SERVICE_PORT")
    api_service_url: str = Field(default="http://localhost:8000", alias="API_SERVICE_URL")
    workers: int = Field(default_factory=lambda: os.cpu_count() or 1, alias="WORKERS", ge=1, le=64)
    max_attempts: int = Field(
        default=3, alias="MAX_ATTEMPTS", ge=1, description="Runs of one execution before it fails."
    )
    heartbeat_interval_s: float = Field(default=1.0, alias="HEARTBEAT_INTERVAL_S", gt=0)
    heartbeat_timeout_s: float = Field(
        default=15.0,
        alias="HEARTBEAT_TIMEOUT_S",
        gt=0,
        description="A running execution silent this long is taken for dead and re-run.",
    )
    market_data_cache_mb: int = Field(
        default=256,
        alias="MARKET_DATA_CACHE_MB",
        ge=0,
        description="Bars each worker process keeps loaded, least recently used first out.",
    )
    max_import_rows: int = Field(
        default=DEFAULT_MAX_ROWS,
        alias="MAX_IMPORT_ROWS",
        ge=1,
        description="Rows one upload may hold, and bars a symbol may hold after an append.",
    )
    max_import_columns: int = Field(
        default=DEFAULT_MAX_COLUMNS,
        alias="MAX_IMPORT_COLUMNS",
        ge=6,
        description="Columns an uploaded file may have.",
    )
    import_memory_mb: int = Field(
        default=DEFAULT_MEMORY_MB,
        alias="IMPORT_MEMORY_MB",
        ge=512,
        description="The address space of each import process; a file needing more is refused.",
    )
    import_timeout_s: float = Field(
        default=DEFAULT_TIMEOUT_S,
        alias="IMPORT_TIMEOUT_S",
        gt=0,
        description="The time one import may take before it is stopped and refused.",
    )
    import_slots: int = Field(
        default=2,
        alias="IMPORT_SLOTS",
        ge=1,
        le=16,
        description="Import processes running uploads side by side (one per member at a time).",
    )
    delivery_max_delay_s: float = Field(
        default=30.0, alias="DELIVERY_MAX_DELAY_S", gt=0, description="Longest retry backoff."
    )
    executor: Literal["process", "celery"] = Field(
        default="process",
        alias="EXECUTOR",
        description="process: this service's own worker processes (WORKERS). celery: "
        "Celery workers (`botclub worker`, on any machine) fed through BROKER_URL.",
    )
    broker_url: str = Field(
        default="amqp://guest:guest@localhost:5672//",
        alias="BROKER_URL",
        description="The broker the service publishes executions to (EXECUTOR=celery): "
        "RabbitMQ (amqp://) or Redis (redis://, rediss://).",
    )
    broker_visibility_timeout_s: float = Field(
        default=86400.0,
        alias="BROKER_VISIBILITY_TIMEOUT_S",
        gt=0,
        description="Redis only: how long a worker may hold a task before it is delivered "
        "again to another (late acknowledgement makes it the length of a run); longer "
        "than the longest run.",
    )
    fleet_queue: str = Field(
        default="backtests",
        alias="FLEET_QUEUE",
        min_length=1,
        description="The broker queue of the executions (EXECUTOR=celery).",
    )
    fair_share: float = Field(
        default=0.5,
        alias="FAIR_SHARE",
        gt=0,
        le=1,
        description="The share of a fleet's worker slots one member may hold while "
        "another member's work waits (at least one slot).",
    )
    sweep_part_size: int = Field(
        default=100,
        alias="SWEEP_PART_SIZE",
        ge=1,
        description="Combinations per part of a sweep a fleet fans out (EXECUTOR=celery).",
    )

    market_data_files_dir: str = Field(
        default="",
        alias="MARKET_DATA_FILES_DIR",
        description="Where this machine keeps imported bars for its workers to map from "
        "disk (the first backtest after an upload reads nothing back from MongoDB); "
        "empty: nowhere. `botclub run` keeps them in its data folder's `bars`.",
    )

    def import_limits(self) -> ImportLimits:
        return ImportLimits(
            max_rows=self.max_import_rows,
            max_columns=self.max_import_columns,
            memory_mb=self.import_memory_mb,
            timeout_s=self.import_timeout_s,
        )

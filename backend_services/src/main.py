"""The compute service's FastAPI application."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
from fastapi import FastAPI

from backend_services.config import Settings
from backend_services.market_data.bar_files import BarFiles
from backend_services.market_data.import_runner import ImportRunner
from backend_services.routes import backtest, health, market_data, metrics
from backend_services.services.backtest.backtest_service import BacktestService
from backend_services.services.backtest.execution.bars_cache import BarsCache
from backend_services.services.market_data_service import MarketDataService
from backend_services.state import STATE_KEY, ComputeState
from shared.market_data.catalog import BARS_COLLECTION, BARS_INDEX_KEYS
from shared.metrics import METRICS_PATH
from shared.mongo import async_client
from shared.paths import COMPUTE_MARKET_DATA_PATH, COMPUTE_RUN_PATH
from shared.signing import ServiceSignature
from shared.web.health_monitor import DependencyMonitor
from shared.web.mongo_checks import ping_check, write_check
from shared.web.nonces import NONCES_STATE_KEY, ensure_nonce_index
from shared.web.openapi import install_openapi, operation_id
from shared.web.setup import freeze_startup_heap, set_up_app

CALLBACK_TIMEOUT = httpx.Timeout(10.0, connect=3.0)
# One document the readiness probe rewrites: MongoDB still takes this service's writes.
HEALTH_PROBE_COLLECTION = "compute_health"
# The nonces of the signed calls this service has accepted (the API's).
NONCES_COLLECTION = "compute_nonces"


COMPUTE_DESCRIPTION = """\
Runs backtests for the API service. Every call but the health probes must be signed
with the shared SERVICE_SECRET (headers X-Service-Timestamp, X-Service-Nonce and
X-Service-Signature: HMAC-SHA256 over method, path, query, timestamp, nonce and body);
a nonce is accepted once. Errors answer one JSON shape, `ErrorBody`.
"""
COMPUTE_TAGS = [
    {"name": "health", "description": "Liveness and readiness probes (unsigned)."},
    {"name": "backtest", "description": "Executions: run, status, trades, cancel, delete."},
    {"name": "market data", "description": "Imports and deletions of bars, for a member."},
]


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app; `python -m shared.web.serve backend_services.main:create_app`
    serves it."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, object]]:
        mongo = async_client(settings.mongo_url)
        database = mongo[settings.mongo_db]
        await database[BARS_COLLECTION].create_index(BARS_INDEX_KEYS, unique=True)
        await ensure_nonce_index(database[NONCES_COLLECTION])
        http = httpx.AsyncClient(
            base_url=settings.api_service_url,
            auth=ServiceSignature(settings.service_secret),
            timeout=CALLBACK_TIMEOUT,
            limits=httpx.Limits(max_connections=16, max_keepalive_connections=16),
        )
        backtests = await BacktestService.start(database, http, settings)
        imports = ImportRunner(
            settings.mongo_url,
            settings.mongo_db,
            settings.import_limits(),
            settings.import_slots,
            settings.market_data_files_dir,
        )
        monitor = DependencyMonitor(
            {
                "mongo": ping_check(database),
                "storage": write_check(database[HEALTH_PROBE_COLLECTION]),
            }
        )
        await monitor.check_all()
        background = [
            asyncio.create_task(backtests.supervise(settings.supervise_interval_s)),
            asyncio.create_task(monitor.run()),
        ]
        state = ComputeState(
            settings=settings,
            backtests=backtests,
            market_data=MarketDataService(
                imports,
                database,
                BarsCache(settings.market_data_cache_mb << 20),
                BarFiles(Path(files)) if (files := settings.market_data_files_dir) else None,
            ),
            monitor=monitor,
        )
        freeze_startup_heap()
        try:
            yield {STATE_KEY: state, NONCES_STATE_KEY: database[NONCES_COLLECTION]}
        finally:
            for task in background:
                task.cancel()
            await backtests.close()
            imports.close()
            await http.aclose()
            await mongo.close()

    app = FastAPI(
        title="Bot Club Backtest compute service",
        version="0.1.0",
        lifespan=lifespan,
        generate_unique_id_function=operation_id,
    )
    install_openapi(app, COMPUTE_DESCRIPTION, COMPUTE_TAGS)
    set_up_app(
        app,
        settings.service_secret,
        settings.max_concurrent_requests,
        exempt_paths=(*health.PROBE_PATHS, METRICS_PATH),
        body_timeout_s=settings.body_timeout_s,
        signed_prefixes=(COMPUTE_RUN_PATH.rsplit("/", 1)[0], COMPUTE_MARKET_DATA_PATH),
        body_limits={COMPUTE_MARKET_DATA_PATH: settings.max_upload_mb << 20},
    )
    for module in (health, metrics, backtest, market_data):
        app.include_router(module.router)
    return app

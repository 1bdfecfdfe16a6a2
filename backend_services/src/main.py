"""The compute service's FastAPI application."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI

from backend_services.app_common import freeze_startup_heap, set_up_app
from backend_services.config import Settings
from backend_services.health_monitor import DependencyMonitor
from backend_services.market_data.catalog import BARS_COLLECTION, BARS_INDEX_KEYS
from backend_services.mongo import async_client
from backend_services.routes import backtest, health
from backend_services.services.backtest.backtest_service import BacktestService
from backend_services.services.backtest.execution_job import init_worker, run_execution
from backend_services.services.backtest.execution_store import EXECUTIONS_COLLECTION, ExecutionStore
from backend_services.services.backtest.result_delivery import ResultDelivery
from backend_services.services.backtest.trade_store import TRADES_COLLECTION, ensure_trade_indexes
from backend_services.services.backtest.worker_pool import ProcessWorkerPool
from backend_services.signing import ServiceSignature

CALLBACK_TIMEOUT = httpx.Timeout(10.0, connect=3.0)


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app; uvicorn runs it with `--factory backend_services.main:create_app`."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        mongo = async_client(settings.mongo_url)
        database = mongo[settings.mongo_db]
        store = ExecutionStore(database[EXECUTIONS_COLLECTION])
        await store.ensure_indexes()
        await database[BARS_COLLECTION].create_index(BARS_INDEX_KEYS, unique=True)
        http = httpx.AsyncClient(
            base_url=settings.api_service_url,
            auth=ServiceSignature(settings.service_secret),
            timeout=CALLBACK_TIMEOUT,
            limits=httpx.Limits(max_connections=16, max_keepalive_connections=16),
        )
        delivery = ResultDelivery(store, http, max_delay_s=settings.delivery_max_delay_s)
        trades = database[TRADES_COLLECTION]
        await ensure_trade_indexes(trades)
        service = BacktestService(
            store, trades, delivery, settings.max_attempts, settings.heartbeat_timeout_s
        )
        pool = ProcessWorkerPool(
            workers=settings.workers,
            job=run_execution,
            initializer=init_worker,
            initargs=(
                settings.mongo_url,
                settings.mongo_db,
                settings.heartbeat_interval_s,
                settings.market_data_cache_mb << 20,
            ),
            on_run_ended=service.on_run_ended,
        )
        service.attach_pool(pool)
        await service.recover()
        monitor = DependencyMonitor({"mongo": lambda: database.command("ping")})
        await monitor.check_all()
        background = [
            asyncio.create_task(service.supervise(settings.supervise_interval_s)),
            asyncio.create_task(monitor.run()),
        ]
        app.state.monitor = monitor
        app.state.settings = settings
        app.state.database = database
        app.state.backtest_service = service
        freeze_startup_heap()
        try:
            yield
        finally:
            for task in background:
                task.cancel()
            await pool.close()
            await delivery.close()
            await http.aclose()
            await mongo.close()

    app = FastAPI(title="Bot Club Backtest compute service", version="0.1.0", lifespan=lifespan)
    set_up_app(
        app,
        settings.service_secret,
        settings.max_concurrent_requests,
        health_path=health.HEALTH_PATH,
    )
    app.include_router(health.router)
    app.include_router(backtest.router)
    return app

"""The API service's FastAPI application."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from backend.backtests import BacktestStore
from backend.config import Settings
from backend.database import BACKTESTS_COLLECTION, ensure_indexes
from backend.market_data_imports import ImportRunner
from backend.routes import backtest, health, market_data, strategy
from backend.services.backtest_client import BacktestServiceClient
from backend.supervisor import BacktestSupervisor
from backend_services.app_common import freeze_startup_heap, set_up_app
from backend_services.health_monitor import DependencyMonitor
from backend_services.mongo import async_client
from backend_services.services.backtest.result_delivery import MAX_RESULT_BYTES, SAVE_RESULT_PATH


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app; uvicorn runs it with `--factory backend.main:create_app`."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        mongo = async_client(settings.mongo_url)
        database = mongo[settings.mongo_db]
        await ensure_indexes(database)
        client = BacktestServiceClient(settings.backend_services_url, settings.service_secret)
        app.state.settings = settings
        app.state.database = database
        app.state.backtest_client = client
        app.state.import_runner = ImportRunner(settings.mongo_url, settings.mongo_db)
        supervisor = BacktestSupervisor(
            BacktestStore(database[BACKTESTS_COLLECTION]),
            client,
            settings.supervise_interval_s,
            settings.reconcile_after_s,
        )
        monitor = DependencyMonitor(
            {"mongo": lambda: database.command("ping"), "backend_services": client.health}
        )
        await monitor.check_all()
        app.state.monitor = monitor
        background = [asyncio.create_task(supervisor.run()), asyncio.create_task(monitor.run())]
        freeze_startup_heap()
        try:
            yield
        finally:
            for task in background:
                task.cancel()
            app.state.import_runner.close()
            await client.aclose()
            await mongo.close()

    app = FastAPI(title="Bot Club Backtest API", version="0.1.0", lifespan=lifespan)
    set_up_app(
        app,
        settings.service_secret,
        settings.max_concurrent_requests,
        health_path=health.HEALTH_PATH,
        body_limits={
            SAVE_RESULT_PATH: MAX_RESULT_BYTES,
            market_data.SYMBOLS_PATH: settings.max_upload_mb << 20,
        },
    )
    for module in (health, strategy, backtest, market_data):
        app.include_router(module.router)
    return app

"""The API service's FastAPI application."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from backend.config import Settings
from backend.database import ensure_indexes
from backend.routes import backtest, health, market_data, strategy
from backend.services.backtest_client import BacktestServiceClient
from backend_services.app_common import set_up_app
from backend_services.mongo import async_client


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
        try:
            yield
        finally:
            await client.aclose()
            await mongo.close()

    app = FastAPI(title="Bot Club Backtest API", version="0.1.0", lifespan=lifespan)
    set_up_app(app, settings.service_secret)
    for module in (health, strategy, backtest, market_data):
        app.include_router(module.router)
    return app

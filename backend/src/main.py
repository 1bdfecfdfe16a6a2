"""The API service's FastAPI application."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from backend.config import Settings
from backend.database import BACKTESTS_COLLECTION, HEALTH_PROBE_COLLECTION, ensure_indexes
from backend.routes import (
    backtest,
    functions,
    health,
    market_data,
    metrics,
    strategy,
    streams,
    tokens,
    users,
)
from backend.routes.dashboard import install_dashboard
from backend.rule_upgrades import upgrade_stored_rules
from backend.services.backtest_client import BacktestServiceClient
from backend.services.compute_health import compute_service_check
from backend.services.passwords import PasswordChecks
from backend.services.sign_in_throttle import SignInThrottle
from backend.services.supervisor import BacktestSupervisor
from backend.state import STATE_KEY, ApiState
from backend.stores.backtests import BacktestStore
from backend.stores.idempotency import IDEMPOTENCY_COLLECTION, IdempotentPosts
from backend.stores.rankings import RANKINGS_COLLECTION, RankingStore
from backend.stores.token_cache import TokenCache
from backend.streams.progress_hub import ProgressHub
from shared.limits import MAX_RESULT_BYTES
from shared.metrics import METRICS_PATH
from shared.mongo import async_client
from shared.paths import EVENTS_PATH, SAVE_RESULT_PATH
from shared.web.health_monitor import DependencyMonitor
from shared.web.mongo_checks import ping_check, write_check
from shared.web.nonces import NONCES_STATE_KEY, ensure_nonce_index
from shared.web.openapi import install_openapi, operation_id
from shared.web.setup import freeze_startup_heap, set_up_app

# Argon2 checks of sign-ins run on one thread of their own (a core at most, however many
# sign-ins arrive); a few dozen may wait for it, more are refused at once.
PASSWORD_CHECK_THREADS = 1
MAX_WAITING_PASSWORD_CHECKS = 32
# The nonces of the signed calls this service has accepted (the compute service's callbacks).
NONCES_COLLECTION = "api_nonces"

API_DESCRIPTION = """\
Backtest trading strategies written as rules, over stored market data.

Every call but the health probes needs an API token: `Authorization: Bearer TOKEN`
(`botclub create-user NAME` prints one; `POST /api/tokens` makes more). Every error
answers one JSON shape, `ErrorBody`: `detail` says what went wrong; `errors` lists the
fields refused (422); `report` carries an upload's problem rows. Each response carries
`X-Request-ID` (yours, if you sent one), which both services' logs name.
"""
API_TAGS = [
    {"name": "health", "description": "Liveness and readiness probes; no token needed."},
    {"name": "users", "description": "Who the token belongs to."},
    {
        "name": "strategies",
        "description": "Strategies (rules, parameters, orders, costs), and starting their "
        "backtests and optimizations.",
    },
    {
        "name": "backtests",
        "description": "A backtest's status, progress and result; its trades and an "
        "optimization's ranking, paged; cancelling and deleting.",
    },
    {
        "name": "market data",
        "description": "Uploading bars (CSV or Parquet) and the symbols stored.",
    },
    {"name": "tokens", "description": "Your API tokens: list, create, revoke."},
]


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app; `python -m shared.web.serve backend.main:create_app` serves it."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, object]]:
        mongo = async_client(settings.mongo_url)
        database = mongo[settings.mongo_db]
        await ensure_indexes(database)
        await upgrade_stored_rules(database)
        await ensure_nonce_index(database[NONCES_COLLECTION])
        client = BacktestServiceClient(settings.backend_services_url, settings.service_secret)
        hub = ProgressHub()
        backtests = BacktestStore(
            database[BACKTESTS_COLLECTION],
            RankingStore(database[RANKINGS_COLLECTION]),
            listener=hub,
        )
        supervisor = BacktestSupervisor(
            backtests,
            client,
            settings.supervise_interval_s,
            settings.reconcile_after_s,
        )
        monitor = DependencyMonitor(
            {
                "mongo": ping_check(database),
                "storage": write_check(database[HEALTH_PROBE_COLLECTION]),
                "backend_services": compute_service_check(client),
            }
        )
        await monitor.check_all()
        password_checks = PasswordChecks(PASSWORD_CHECK_THREADS, MAX_WAITING_PASSWORD_CHECKS)
        background = [asyncio.create_task(supervisor.run()), asyncio.create_task(monitor.run())]
        state = ApiState(
            settings=settings,
            database=database,
            backtest_client=client,
            monitor=monitor,
            progress_hub=hub,
            password_checks=password_checks,
            token_cache=TokenCache(),
            sign_in_throttle=SignInThrottle(
                settings.sign_in_failures_per_name, settings.sign_in_failures_per_address
            ),
        )
        freeze_startup_heap()
        try:
            yield {STATE_KEY: state, NONCES_STATE_KEY: database[NONCES_COLLECTION]}
        finally:
            for task in background:
                task.cancel()
            password_checks.close()
            await client.aclose()
            await mongo.close()

    app = FastAPI(
        title="Bot Club Backtest API",
        version="0.1.0",
        lifespan=lifespan,
        generate_unique_id_function=operation_id,
        docs_url=None,  # served offline by routes/dashboard.py
        redoc_url=None,
    )
    install_openapi(app, API_DESCRIPTION, API_TAGS)
    # Added before the shared set-up, so it runs inside the request intake, on a body
    # already read in whole.
    app.add_middleware(
        IdempotentPosts,
        keys_of=lambda scope: scope["state"][STATE_KEY].database[IDEMPOTENCY_COLLECTION],
        prefix="/api/",
        excluded=frozenset({SAVE_RESULT_PATH, EVENTS_PATH}),
    )
    set_up_app(
        app,
        settings.service_secret,
        settings.max_concurrent_requests,
        exempt_paths=(*health.PROBE_PATHS, METRICS_PATH),
        ungated_paths=(users.router.prefix + users.SESSION_PATH,),
        body_timeout_s=settings.body_timeout_s,
        cors_origins=settings.cors_origins,
        signed_prefixes=(SAVE_RESULT_PATH, EVENTS_PATH),
        body_limits={
            SAVE_RESULT_PATH: MAX_RESULT_BYTES,
            market_data.SYMBOLS_PATH: settings.max_upload_mb << 20,
        },
    )
    for module in (
        health,
        metrics,
        users,
        strategy,
        functions,
        backtest,
        streams,
        market_data,
        tokens,
    ):
        app.include_router(module.router)
    install_dashboard(app)
    return app

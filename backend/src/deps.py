"""Injectable pieces of the API's routes, defined once so route signatures read plainly.

Every dependency is `async def`, even those that only read app state: FastAPI runs a
plain `def` dependency in its thread pool, a thread hop per request for nothing.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pymongo.asynchronous.database import AsyncDatabase

from backend.backtests import BacktestStore
from backend.config import Settings
from backend.database import BACKTESTS_COLLECTION, STRATEGIES_COLLECTION
from backend.market_data_imports import ImportRunner
from backend.schemas import Backtest, Strategy
from backend.services.backtest_client import BacktestServiceClient
from backend.strategies import StrategyStore
from backend.users import USERS_COLLECTION, User, find_by_token
from backend_services.signing import signature_verifier

_bearer = HTTPBearer(auto_error=False)


async def _database(request: Request) -> AsyncDatabase[dict[str, Any]]:
    database: AsyncDatabase[dict[str, Any]] = request.app.state.database
    return database


async def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def _backtest_client(request: Request) -> BacktestServiceClient:
    client: BacktestServiceClient = request.app.state.backtest_client
    return client


async def _import_runner(request: Request) -> ImportRunner:
    runner: ImportRunner = request.app.state.import_runner
    return runner


ImportRunnerDep = Annotated[ImportRunner, Depends(_import_runner)]
DatabaseDep = Annotated[AsyncDatabase[dict[str, Any]], Depends(_database)]
SettingsDep = Annotated[Settings, Depends(_settings)]
BacktestClientDep = Annotated[BacktestServiceClient, Depends(_backtest_client)]


async def _strategy_store(database: DatabaseDep) -> StrategyStore:
    return StrategyStore(database[STRATEGIES_COLLECTION])


async def _backtest_store(database: DatabaseDep) -> BacktestStore:
    return BacktestStore(database[BACKTESTS_COLLECTION])


StrategyStoreDep = Annotated[StrategyStore, Depends(_strategy_store)]
BacktestStoreDep = Annotated[BacktestStore, Depends(_backtest_store)]


async def _current_user(
    database: DatabaseDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> User:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "missing bearer token",
            headers={"WWW-Authenticate": "Bearer"},
        )
    user = await find_by_token(database[USERS_COLLECTION], credentials.credentials)
    if user is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, "invalid token", headers={"WWW-Authenticate": "Bearer"}
        )
    return user


CurrentUser = Annotated[User, Depends(_current_user)]


async def _owned_strategy(strategy_id: str, user: CurrentUser, store: StrategyStoreDep) -> Strategy:
    """The strategy if the caller owns it; another user's strategy is simply not found."""
    strategy = await store.get(user.id, strategy_id)
    if strategy is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "strategy not found")
    return strategy


async def _owned_backtest(backtest_id: str, user: CurrentUser, store: BacktestStoreDep) -> Backtest:
    backtest = await store.get(user.id, backtest_id)
    if backtest is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "backtest not found")
    return backtest


OwnedStrategy = Annotated[Strategy, Depends(_owned_strategy)]
OwnedBacktest = Annotated[Backtest, Depends(_owned_backtest)]


def _service_secret(request: Request) -> str:
    settings: Settings = request.app.state.settings
    return settings.service_secret


verify_signature = signature_verifier(_service_secret)

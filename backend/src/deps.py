"""Injectable pieces of the API's routes, defined once so route signatures read plainly.

Every dependency is `async def`, even those that only read app state: FastAPI runs a
plain `def` dependency in its thread pool, a thread hop per request for nothing.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pymongo.asynchronous.database import AsyncDatabase
from starlette.requests import HTTPConnection

from backend.config import Settings
from backend.database import BACKTESTS_COLLECTION, STRATEGIES_COLLECTION
from backend.schemas import Backtest, Strategy
from backend.services.backtest_client import BacktestServiceClient
from backend.services.backtest_outcomes import BacktestOutcomes
from backend.services.backtest_starter import BacktestStarter
from backend.services.passwords import PasswordChecks
from backend.services.sign_in_throttle import SignInThrottle
from backend.state import ApiState, api_state
from backend.stores.backtests import BacktestStore
from backend.stores.rankings import RANKINGS_COLLECTION, RankingStore
from backend.stores.strategies import StrategyStore
from backend.stores.tokens import TOKENS_COLLECTION, TokenStore
from backend.stores.users import User
from backend.streams.progress_hub import ProgressHub
from shared.errors import NotFound, Unauthorized
from shared.mongo import Document
from shared.web.request_context import set_user

_bearer = HTTPBearer(auto_error=False)


async def _state(connection: HTTPConnection) -> ApiState:
    """For requests and WebSockets alike."""
    return api_state(connection)


StateDep = Annotated[ApiState, Depends(_state)]


async def _database(state: StateDep) -> AsyncDatabase[Document]:
    return state.database


async def _settings(state: StateDep) -> Settings:
    return state.settings


async def _backtest_client(state: StateDep) -> BacktestServiceClient:
    return state.backtest_client


DatabaseDep = Annotated[AsyncDatabase[Document], Depends(_database)]
SettingsDep = Annotated[Settings, Depends(_settings)]
BacktestClientDep = Annotated[BacktestServiceClient, Depends(_backtest_client)]


async def _strategy_store(database: DatabaseDep) -> StrategyStore:
    return StrategyStore(database[STRATEGIES_COLLECTION])


async def _ranking_store(database: DatabaseDep) -> RankingStore:
    return RankingStore(database[RANKINGS_COLLECTION])


RankingStoreDep = Annotated[RankingStore, Depends(_ranking_store)]


async def _backtest_store(
    state: StateDep, database: DatabaseDep, rankings: RankingStoreDep
) -> BacktestStore:
    return BacktestStore(database[BACKTESTS_COLLECTION], rankings, listener=state.progress_hub)


async def _token_store(state: StateDep, database: DatabaseDep) -> TokenStore:
    return TokenStore(database[TOKENS_COLLECTION], state.token_cache)


async def _progress_hub(state: StateDep) -> ProgressHub:
    return state.progress_hub


async def _password_checks(state: StateDep) -> PasswordChecks:
    return state.password_checks


async def _sign_in_throttle(state: StateDep) -> SignInThrottle:
    return state.sign_in_throttle


PasswordChecksDep = Annotated[PasswordChecks, Depends(_password_checks)]
SignInThrottleDep = Annotated[SignInThrottle, Depends(_sign_in_throttle)]


ProgressHubDep = Annotated[ProgressHub, Depends(_progress_hub)]
StrategyStoreDep = Annotated[StrategyStore, Depends(_strategy_store)]
BacktestStoreDep = Annotated[BacktestStore, Depends(_backtest_store)]
TokenStoreDep = Annotated[TokenStore, Depends(_token_store)]


async def _presented_token(
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> str:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthorized("missing bearer token", challenge="Bearer")
    return credentials.credentials


PresentedToken = Annotated[str, Depends(_presented_token)]


async def _current_user(request: Request, tokens: TokenStoreDep, token: PresentedToken) -> User:
    user = await tokens.user_of(token)
    if user is None:
        raise Unauthorized("invalid, expired or revoked token", challenge="Bearer")
    set_user(request.scope["state"], user.id)
    return user


CurrentUser = Annotated[User, Depends(_current_user)]


async def _owned_strategy(strategy_id: str, user: CurrentUser, store: StrategyStoreDep) -> Strategy:
    """The strategy if the caller owns it; another user's strategy is simply not found."""
    strategy = await store.get(user.id, strategy_id)
    if strategy is None:
        raise NotFound("strategy not found")
    return strategy


async def _owned_backtest(backtest_id: str, user: CurrentUser, store: BacktestStoreDep) -> Backtest:
    backtest = await store.get(user.id, backtest_id)
    if backtest is None:
        raise NotFound("backtest not found")
    return backtest


async def backtest_as_read(
    backtest_id: str, user_id: str, store: BacktestStore, hub: ProgressHub
) -> Backtest | None:
    """The member's backtest for a read: as this process holds one it accepted while
    it runs (`ProgressHub.accepted`), else read; None if it is not theirs."""
    return hub.accepted(backtest_id, user_id) or await store.get(user_id, backtest_id)


async def _readable_backtest(
    backtest_id: str, user: CurrentUser, store: BacktestStoreDep, hub: ProgressHubDep
) -> Backtest:
    backtest = await backtest_as_read(backtest_id, user.id, store, hub)
    if backtest is None:
        raise NotFound("backtest not found")
    return backtest


OwnedStrategy = Annotated[Strategy, Depends(_owned_strategy)]
OwnedBacktest = Annotated[Backtest, Depends(_owned_backtest)]
# For reads and cancels: a running backtest this process accepted comes from memory,
# with the execution it was handed to before that hand-over is recorded.
ReadableBacktest = Annotated[Backtest, Depends(_readable_backtest)]


async def _backtest_starter(
    user: CurrentUser, database: DatabaseDep, store: BacktestStoreDep
) -> BacktestStarter:
    return BacktestStarter(user.id, database, store)


StarterDep = Annotated[BacktestStarter, Depends(_backtest_starter)]


async def _backtest_outcomes(
    store: BacktestStoreDep, rankings: RankingStoreDep, client: BacktestClientDep
) -> BacktestOutcomes:
    return BacktestOutcomes(store, rankings, client)


OutcomesDep = Annotated[BacktestOutcomes, Depends(_backtest_outcomes)]

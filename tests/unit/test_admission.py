"""ConcurrencyGate: a bound on requests in progress, health exempt, the other service's
calls in slots of their own, slots freed on reply."""

from __future__ import annotations

import asyncio

import httpx
from fastapi import BackgroundTasks, FastAPI

from shared.web.admission import ConcurrencyGate


def gated_app(release: asyncio.Event, background_done: asyncio.Event) -> FastAPI:
    app = FastAPI()
    app.add_middleware(ConcurrencyGate, limit=1, exempt={"/health"}, apart=("/signed/",))
    started: list[str] = []
    app.state.started = started

    @app.get("/slow/{name}")
    async def slow(name: str) -> str:
        started.append(name)
        await release.wait()
        return name

    @app.get("/reply-then-work")
    async def reply_then_work(background: BackgroundTasks) -> str:
        async def keep_working() -> None:
            await release.wait()
            background_done.set()

        background.add_task(keep_working)
        return "replied"

    @app.get("/health")
    async def health() -> str:
        return "ok"

    @app.get("/signed/{name}")
    async def signed(name: str) -> str:
        started.append(name)
        await release.wait()
        return name

    return app


def client_of(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


async def test_second_request_waits_until_the_first_is_answered() -> None:
    release = asyncio.Event()
    app = gated_app(release, asyncio.Event())
    async with client_of(app) as client:
        first = asyncio.create_task(client.get("/slow/first"))
        second = asyncio.create_task(client.get("/slow/second"))
        await asyncio.sleep(0.05)
        assert app.state.started == ["first"]
        release.set()
        answers = await asyncio.gather(first, second)
    assert [a.json() for a in answers] == ["first", "second"]
    assert app.state.started == ["first", "second"]


async def test_health_is_answered_while_every_slot_is_taken() -> None:
    release = asyncio.Event()
    async with client_of(gated_app(release, asyncio.Event())) as client:
        busy = asyncio.create_task(client.get("/slow/busy"))
        await asyncio.sleep(0.05)
        health = await asyncio.wait_for(client.get("/health"), timeout=1)
        assert health.json() == "ok"
        assert not busy.done()
        release.set()
        await busy


async def test_background_work_after_the_reply_holds_no_slot() -> None:
    release, background_done = asyncio.Event(), asyncio.Event()
    app = gated_app(release, background_done)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        # ASGITransport returns only when the app call ends, background work included.
        replied = asyncio.create_task(client.get("/reply-then-work"))
        await asyncio.sleep(0.05)
        assert not background_done.is_set()
        next_request = asyncio.create_task(client.get("/slow/next"))
        await asyncio.sleep(0.05)
        assert app.state.started == ["next"]
        release.set()
        await asyncio.gather(replied, next_request)
    assert background_done.is_set()


async def test_the_other_services_calls_have_slots_of_their_own() -> None:
    release = asyncio.Event()
    app = gated_app(release, asyncio.Event())
    async with client_of(app) as client:
        members = [asyncio.create_task(client.get(f"/slow/member{n}")) for n in range(2)]
        calls = [asyncio.create_task(client.get(f"/signed/call{n}")) for n in range(2)]
        await asyncio.sleep(0.05)
        assert sorted(app.state.started) == ["call0", "member0"]
        release.set()
        answers = await asyncio.gather(*members, *calls)
    assert [a.json() for a in answers] == ["member0", "member1", "call0", "call1"]

"""Slow and hostile clients: what they cost everyone else.

    .venv/bin/python bench/slow_clients.py [--slow 64] [--requests 900] [--flood 32]

Starts its own stack on loopback (the embedded MongoDB unless MONGO_URL answers, in a
throw-away database) and prints:
- the p50 and p99 latency of an authenticated `GET /api/strategy`, with no slow client
  attached and then with --slow connections each declaring a 100 kB body and sending
  one byte of it (they keep trickling for the length of the measurement); goal: p99 with
  them under twice p99 without;
- the time from sending the headers of an unsigned 60 MiB `save_result` callback to the
  401, with no body sent (goal: under 10 ms), median of 20;
- the p50 and p99 latency of a member's `GET /api/me` without and under --flood
  wrong-password loops (`sign_in_flood.py`), in turns: from one address at the member's
  own name (throttled: 429s), then each loop from an address of its own with a new name
  each try (every password checked, the check pool full); goal: p99 under each flood
  under twice p99 without. The answers each flood got are counted.
Every loop is bounded in count and time. The per-address connection cap is raised for
the run: every client here has the loopback address.
"""

from __future__ import annotations

import argparse
import socket
import statistics
import sys
import time

import httpx
from sign_in_flood import SignInFlood
from throwaway_stack import throwaway_stack

from backend.services.passwords import set_password
from backend.stores.users import USERS_COLLECTION, ensure_user

# Turns of measuring without and with each flood.
FLOOD_ROUNDS = 3
# The goals: members' p99 under slow clients or a flood, over their p99 without; and the
# refusal of an unsigned callback announcing 60 MiB.
MAX_SLOWDOWN = 2.0
MAX_REFUSAL_MS = 10.0
_CALLBACK_HEAD = (
    b"POST /api/backtest/save_result HTTP/1.1\r\nHost: bench\r\n"
    b"Content-Type: application/json\r\nContent-Length: 62914560\r\n\r\n"
)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def latencies(api: httpx.Client, count: int, path: str = "/api/strategy") -> list[float]:
    measured = []
    for _ in range(count):
        started = time.perf_counter()
        api.get(path).raise_for_status()
        measured.append(time.perf_counter() - started)
    return measured


def describe(label: str, measured: list[float], idle: list[float] | None = None) -> str:
    p99 = percentile(measured, 0.99)
    line = f"  {label}: p50 {statistics.median(measured) * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms"
    if idle is not None:
        line += f" ({slowdown(measured, idle):.2f}x; goal < {MAX_SLOWDOWN:g}x)"
    return line


def slowdown(measured: list[float], idle: list[float]) -> float:
    """p99 of `measured` over p99 of `idle`."""
    return percentile(measured, 0.99) / percentile(idle, 0.99)


def sign_in_floods(
    api: httpx.Client, api_url: str, member: str, loops: int, count: int
) -> tuple[list[str], float]:
    """Members' `GET /api/me` without and under each flood, measured in turns (the
    flood paused, every attempt answered; then running, its check queue full) so both
    see the same background load; as lines to print, and the larger slowdown."""
    lines = [f"GET /api/me, {count} requests each way, {loops} wrong-password loops"]
    worst = 0.0
    for label, spread in (("one address, the member's name", False), ("spread", True)):
        idle: list[float] = []
        loaded: list[float] = []
        with SignInFlood(api_url, loops, member, spread) as flood:
            for _ in range(FLOOD_ROUNDS):
                flood.pause()
                idle += latencies(api, count // FLOOD_ROUNDS, "/api/me")
                flood.resume()
                time.sleep(2)  # every loop sending again and the check queue full
                loaded += latencies(api, count // FLOOD_ROUNDS, "/api/me")
        answers = ", ".join(f"{status}: {n}" for status, n in sorted(flood.answers.items()))
        lines.append(f" {label} (answers {answers}):")
        lines.append(describe("without", idle))
        lines.append(describe("under the flood", loaded, idle))
        worst = max(worst, slowdown(loaded, idle))
    return lines, worst


def trickling(port: int, count: int) -> list[socket.socket]:
    head = (
        b"POST /api/strategy HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
        b"Content-Length: 100000\r\n\r\n{"
    )
    connections = []
    for _ in range(count):
        connection = socket.create_connection(("127.0.0.1", port), timeout=10)
        connection.sendall(head)
        connections.append(connection)
    return connections


def refusal_ms(port: int) -> float:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
        started = time.perf_counter()
        connection.sendall(_CALLBACK_HEAD)
        answer = connection.recv(4096)
        elapsed = time.perf_counter() - started
    if not answer.startswith(b"HTTP/1.1 401"):
        raise RuntimeError(f"expected 401, got {answer[:40]!r}")
    return elapsed * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--slow", type=int, default=64)
    parser.add_argument("--requests", type=int, default=900)
    parser.add_argument("--flood", type=int, default=32)
    args = parser.parse_args()
    env = {
        "MAX_CONNECTIONS_PER_CLIENT": str(max(args.slow, args.flood) + 50),
        "BODY_TIMEOUT_S": "120",
        "HEADER_TIMEOUT_S": "120",
    }
    with throwaway_stack("slow", env) as stack:
        headers = {"Authorization": f"Bearer {stack.token}"}
        with httpx.Client(base_url=stack.api_url, headers=headers) as api:
            latencies(api, 20)  # connect and warm up
            quiet = latencies(api, args.requests)
            slow = trickling(stack.api_port, args.slow)
            try:
                loaded = latencies(api, args.requests)
            finally:
                for connection in slow:
                    connection.close()
            refusals = [refusal_ms(stack.api_port) for _ in range(20)]
            users = stack.database[USERS_COLLECTION]
            set_password(users, ensure_user(users, "slow"), "the member's own password")
            floods, flood_slowdown = sign_in_floods(
                api, stack.api_url, "slow", args.flood, args.requests
            )
    quiet_p99, loaded_p99 = percentile(quiet, 0.99), percentile(loaded, 0.99)
    print(f"GET /api/strategy, {args.requests} requests each")
    print(
        f"  no slow client:  p50 {statistics.median(quiet) * 1000:.1f} ms, "
        f"p99 {quiet_p99 * 1000:.1f} ms"
    )
    print(
        f"  {args.slow} slow clients: p50 {statistics.median(loaded) * 1000:.1f} ms, "
        f"p99 {loaded_p99 * 1000:.1f} ms ({slowdown(loaded, quiet):.2f}x; "
        f"goal < {MAX_SLOWDOWN:g}x)"
    )
    refusal_ms_median = statistics.median(refusals)
    print(
        f"unsigned 60 MiB callback refused in {refusal_ms_median:.2f} ms "
        f"(median of 20; goal < {MAX_REFUSAL_MS:g} ms)"
    )
    print("\n".join(floods))
    missed = [
        goal
        for goal, met in (
            ("slow clients", slowdown(loaded, quiet) < MAX_SLOWDOWN),
            ("the unsigned callback's refusal", refusal_ms_median < MAX_REFUSAL_MS),
            ("sign-in floods", flood_slowdown < MAX_SLOWDOWN),
        )
        if not met
    ]
    print(f"goal missed: {', '.join(missed)}" if missed else "every goal met")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())

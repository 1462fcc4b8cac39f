"""``python -m bench.loadgen ...``: a pure-Python load generator (its own process).

``status`` mode GETs ``<base>/<random id>/status.json`` with ids drawn from a file;
``start`` mode POSTs JSON-RPC ``start_payment`` calls (``invoice``: priced in USD). ``concurrency`` workers share one
keep-alive connection pool; requests finishing in the first ``warmup`` seconds are not
counted. Prints one JSON object: counts, requests/s and latency percentiles (ms).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp


def percentile(sorted_values: list[float], q: float) -> float | None:
    """The ``q`` quantile (0..1) of already sorted values, nearest rank."""
    if not sorted_values:
        return None
    index = min(len(sorted_values) - 1, max(0, round(q * len(sorted_values)) - 1))
    return sorted_values[index]


def summarise(
    latencies: list[float], seconds: float, statuses: Counter[int], errors: int, total: int
) -> dict[str, Any]:
    """The result object printed by the load generator (latencies in seconds)."""
    ordered = sorted(latencies)
    ok = statuses.get(200, 0)
    return {
        "requests": len(ordered),
        "ok": ok,
        "errors": errors,
        "total_including_warmup": total,
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "seconds": round(seconds, 3),
        "rps": round(len(ordered) / seconds, 1) if seconds else 0,
        "p50_ms": _ms(percentile(ordered, 0.50)),
        "p90_ms": _ms(percentile(ordered, 0.90)),
        "p99_ms": _ms(percentile(ordered, 0.99)),
        "max_ms": _ms(ordered[-1] if ordered else None),
    }


def _ms(value: float | None) -> float | None:
    return None if value is None else round(value * 1000, 3)


class Load:
    """The shared counters of one run."""

    def __init__(self, warmup_until: float, deadline: float) -> None:
        self.warmup_until = warmup_until
        self.deadline = deadline
        self.latencies: list[float] = []
        self.statuses: Counter[int] = Counter()
        self.errors = 0
        self.total = 0

    def record(self, started: float, status: int | None) -> None:
        now = time.perf_counter()
        self.total += 1
        if status is None:
            self.errors += 1
        else:
            self.statuses[status] += 1
        if started >= self.warmup_until and now <= self.deadline:
            self.latencies.append(now - started)


async def _status_worker(
    session: aiohttp.ClientSession, base: str, ids: list[str], load: Load, rng: random.Random
) -> None:
    while time.perf_counter() < load.deadline:
        url = f"{base}/{rng.choice(ids)}/status.json"
        started = time.perf_counter()
        try:
            async with session.get(url) as resp:
                await resp.read()
                status: int | None = resp.status
        except aiohttp.ClientError:
            status = None
        load.record(started, status)


async def _start_worker(
    session: aiohttp.ClientSession,
    base: str,
    load: Load,
    rng: random.Random,
    priced: bool = False,
) -> None:
    """start_payment calls: a crypto ``amount``, or (``priced``) a USD ``price``."""
    while time.perf_counter() < load.deadline:
        if priced:
            price = f"{rng.randint(1, 999)}.{rng.randint(0, 99):02d}"
            params: dict[str, Any] = {"price": price, "currency": "USD", "data": {"bench": True}}
        else:
            amount = f"{rng.randint(1, 99999)}.{rng.randint(0, 99999999):08d}"
            params = {"amount": amount, "data": {"bench": True}}
        body = {"jsonrpc": "2.0", "id": 1, "method": "start_payment", "params": params}
        started = time.perf_counter()
        try:
            async with session.post(base + "/", json=body) as resp:
                reply = await resp.json()
                status: int | None = resp.status if "result" in reply else 500
        except (aiohttp.ClientError, ValueError):
            status = None
        load.record(started, status)


async def _itemstate_worker(
    session: aiohttp.ClientSession, base: str, customers: list[str], load: Load, rng: random.Random
) -> None:
    """payment.itemstate on the private port, as a shop backend asks on every play."""
    items = (42, 7, 99, 1234)
    while time.perf_counter() < load.deadline:
        body = {"customer": rng.choice(customers), "item": rng.choice(items)}
        started = time.perf_counter()
        try:
            async with session.post(base + "/api/v0/rpc/payment.itemstate", json=body) as resp:
                reply = await resp.json()
                status: int | None = resp.status if reply.get("data") else 500
        except (aiohttp.ClientError, ValueError):
            status = None
        load.record(started, status)


async def _itemstate_ws_worker(
    session: aiohttp.ClientSession, base: str, customers: list[str], load: Load, rng: random.Random
) -> None:
    """payment:itemstate frames over one WebSocket per worker (a backend keeping it open)."""
    items = (42, 7, 99, 1234)
    async with session.ws_connect(base + "/ws") as ws:
        n = 0
        while time.perf_counter() < load.deadline:
            n += 1
            frame = {
                "endpoint": "payment:itemstate",
                "event": {"id": n, "date": 0},
                "data": {"customer": rng.choice(customers), "item": rng.choice(items)},
            }
            started = time.perf_counter()
            try:
                await ws.send_json(frame)
                reply = await ws.receive_json(timeout=30)
                status: int | None = 200 if reply.get("data") else 500
            except (aiohttp.ClientError, ValueError, TypeError):
                status = None
            load.record(started, status)


async def run(
    mode: str,
    base: str,
    concurrency: int,
    duration: float,
    warmup: float,
    ids: list[str],
    seed: int = 1,
) -> dict[str, Any]:
    """Run the load and return the summary."""
    start = time.perf_counter()
    load = Load(start + warmup, start + warmup + duration)
    connector = aiohttp.TCPConnector(limit=concurrency, force_close=False)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        workers = []
        for n in range(concurrency):
            rng = random.Random(seed * 1000 + n)
            if mode == "status":
                workers.append(_status_worker(session, base, ids, load, rng))
            elif mode == "itemstate":
                workers.append(_itemstate_worker(session, base, ids, load, rng))
            elif mode == "itemstate-ws":
                workers.append(_itemstate_ws_worker(session, base, ids, load, rng))
            else:
                workers.append(_start_worker(session, base, load, rng, mode == "invoice"))
        await asyncio.gather(*workers)
    return summarise(load.latencies, duration, load.statuses, load.errors, load.total)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.loadgen")
    parser.add_argument("mode", choices=["status", "start", "invoice", "itemstate", "itemstate-ws"])
    parser.add_argument("base", help="http://127.0.0.1:PORT")
    parser.add_argument(
        "--ids",
        type=Path,
        help="file of payment ids, one a line (status), or of customers (itemstate)",
    )
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    ids = args.ids.read_text().split() if args.ids else []
    if args.mode in ("status", "itemstate", "itemstate-ws") and not ids:
        parser.error(f"{args.mode} mode needs --ids")
    result = asyncio.run(
        run(
            args.mode,
            args.base.rstrip("/"),
            args.concurrency,
            args.duration,
            args.warmup,
            ids,
            args.seed,
        )
    )
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()

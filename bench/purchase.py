"""Benchmark: purchases paid from a balance (ledger debit + receipt number + receipt +
recorded answer, one durable unit of work) vs start_payment in the same run, both at 16
concurrent clients over JSON-RPC against the same daemon, on SQLite and on PostgreSQL.

Each purchase uses its own purchase token and customer account (the contention of one
shared account is the concurrency test's business, not the throughput's); receipts share
one company, so every purchase also takes the gapless receipt counter.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from pathlib import Path
from typing import Any

import aiohttp

from bench.context import Context, say
from bench.procs import BenchDaemon
from bench.report import Section, Target

CLIENTS = 16
TARGET_RATIO = 0.5
COMMERCE: dict[str, Any] = {
    "currencies": {"diamonds": {"decimals": 0}},
    "companies": {
        "default": {
            "name": "Bench Pty Ltd",
            "tax_id": "51 824 753 556",
            "receipt_prefix": "B-",
            "country": "AU",
            "digits": 9,
        }
    },
    "taxes": {"AU": {"rate": "0.10", "inclusive": True}},
    "products": {"gem": {"type": "one_time", "prices": {"AUD": "1.10", "diamonds": "1"}}},
}


async def _drive(url: str, body_of: Any, duration: float, warmup: float) -> dict[str, float]:
    """``CLIENTS`` workers POSTing JSON-RPC bodies; calls answered OK per second."""
    counter = itertools.count()
    ok = failed = 0
    started = time.perf_counter()
    measure_from, deadline = started + warmup, started + warmup + duration
    latencies: list[float] = []

    async def worker(session: aiohttp.ClientSession) -> None:
        nonlocal ok, failed
        while (t := time.perf_counter()) < deadline:
            async with session.post(url, json=body_of(next(counter))) as resp:
                reply = await resp.json()
            done = time.perf_counter()
            good = (
                "result" in reply and reply["result"].get("PaymentResponse", "Success") == "Success"
            )
            if t >= measure_from:
                ok += good
                failed += not good
                latencies.append(done - t)

    connector = aiohttp.TCPConnector(limit=CLIENTS)
    async with aiohttp.ClientSession(connector=connector) as session:
        await asyncio.gather(*(worker(session) for _ in range(CLIENTS)))
    latencies.sort()
    p50 = latencies[len(latencies) // 2] * 1000 if latencies else None
    p99 = latencies[int(len(latencies) * 0.99)] * 1000 if latencies else None
    return {"rps": ok / duration, "failed": failed, "p50": p50 or 0.0, "p99": p99 or 0.0}


async def _fund(url: str, accounts: int) -> None:
    async with aiohttp.ClientSession() as session:
        for i in range(accounts):
            async with session.post(
                url,
                json={
                    "jsonrpc": "2.0",
                    "id": i,
                    "method": "balance.adjust",
                    "params": {
                        "customer": f"c{i}",
                        "currency": "AUD",
                        "amount": "100000.00",
                        "reason": "bench",
                        "idempotency_key": f"bench-fund-{i:06d}",
                    },
                },
            ) as r:
                assert "result" in await r.json()


async def measure(ctx: Context, engine: str, database: str, work: Path) -> list[list[Any]]:
    s = ctx.sizes
    daemon = BenchDaemon(
        ctx.daemon_config(work, work / "xbtcpay.db", {**COMMERCE, "database": database})
    )
    try:
        url = daemon.rpc_url + "/"
        accounts = 64
        await _fund(url, accounts)
        say(f"purchase[{engine}]: start_payment at {CLIENTS} clients")
        start = await _drive(
            url,
            lambda n: {
                "jsonrpc": "2.0",
                "id": n,
                "method": "start_payment",
                "params": {"amount": "1.5"},
            },
            s.duration,
            s.warmup,
        )
        say(f"purchase[{engine}]: payment.purchase from a balance at {CLIENTS} clients")
        buy = await _drive(
            url,
            lambda n: {
                "jsonrpc": "2.0",
                "id": n,
                "method": "payment.purchase",
                "params": {
                    "customer": f"c{n % accounts}",
                    "product": "gem",
                    "use_balance": True,
                    "currency": "AUD",
                    "purchase_token": f"bench-{engine}-{n:09d}",
                },
            },
            s.duration,
            s.warmup,
        )
    finally:
        daemon.stop()
    ratio = buy["rps"] / start["rps"] if start["rps"] else 0.0
    return [
        [engine, "start_payment", start["rps"], start["p50"], start["p99"], None],
        [engine, "payment.purchase (balance, receipt)", buy["rps"], buy["p50"], buy["p99"], ratio],
    ]


async def run(ctx: Context) -> Section:
    section = Section(
        "purchase",
        f"Purchases from a balance vs start_payment, {CLIENTS} concurrent clients, durable",
        ["engine", "call", "calls/s", "p50 ms", "p99 ms", "ratio to start_payment"],
    )
    rows = await measure(
        ctx,
        "sqlite",
        f"sqlite:///{ctx.dir('purchase-sqlite')}/xbtcpay.db",
        ctx.workdir / "purchase-sqlite",
    )
    section.rows += rows
    section.ratios["sqlite purchase / start_payment"] = rows[1][5]
    section.targets.append(
        Target("sqlite purchase / start_payment", rows[1][5], ">=", TARGET_RATIO)
    )
    try:
        from tests.harness import free_port
        from xbtcpay.storage.pg_server import PgServer

        server = PgServer(free_port()).start()
    except Exception as exc:  # noqa: BLE001 - reported, not hidden
        section.notes.append(f"PostgreSQL not measured: {exc}")
        return section
    try:
        url = server.create_database("bench_purchase")
        rows = await measure(ctx, "postgresql", url, ctx.dir("purchase-pg"))
    finally:
        server.stop()
    section.rows += rows
    section.ratios["postgresql purchase / start_payment"] = rows[1][5]
    section.targets.append(
        Target("postgresql purchase / start_payment", rows[1][5], ">=", TARGET_RATIO)
    )
    section.notes.append(
        "a purchase writes a ledger entry, a cached-balance update, a receipt "
        "number, a receipt and the purchase row in one unit of work"
    )
    return section


def main(ctx: Context) -> Section:
    return asyncio.run(run(ctx))

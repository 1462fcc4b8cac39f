"""Benchmark: payment.itemstate answers/s (asked on every play of a media item) for customers
holding a few subscriptions and purchases, against status.json/s of the same daemon in the
same run."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from typing import Any

import aiohttp

from bench.context import Context, say
from bench.procs import BenchDaemon, loadgen
from bench.report import Section, Target
from tests.commerce.media import MEDIA_CONFIG

TARGET_RATIO = 0.5


async def _rpc(
    session: aiohttp.ClientSession, base: str, method: str, params: dict[str, Any]
) -> Any:
    async with session.post(f"{base}/api/v0/rpc/{method}", json=params) as resp:
        reply = await resp.json()
    assert not reply["error"]["status"], (method, params, reply)
    return reply["data"]


async def _customer(session: aiohttp.ClientSession, base: str, customer: str, n: int) -> None:
    """Two subscriptions (one ended), a rental and an ownage purchase."""
    now = int(time.time())
    c = {"customer": customer}
    await _rpc(
        session,
        base,
        "payment.addexternalsubscription",
        {**c, "validUntil": now + 30 * 86400, "product": "kids"},
    )
    ended = await _rpc(
        session, base, "payment.addexternalsubscription", {**c, "validUntil": now + 86400}
    )
    await _rpc(
        session,
        base,
        "payment.cancelsubscription",
        {**c, "transactionID": ended["transactionID"], "immediately": 1},
    )
    for operation, amount in (("ppv", 199), ("ownage", 499)):
        if (n + len(operation)) % 2:
            continue
        tx = await _rpc(
            session,
            base,
            "payment.preparetransaction",
            {
                **c,
                "operation": operation,
                "item": 42,
                "amount": amount,
                "currency": "EUR",
                "provider": "stripe",
            },
        )
        await _rpc(
            session, base, "payment.finishtransaction", {**c, "transactionID": tx["transactionID"]}
        )


async def _seed_customers(base: str, count: int) -> list[str]:
    customers = [f"viewer-{n}" for n in range(count)]
    async with aiohttp.ClientSession() as session:
        for start in range(0, count, 50):
            await asyncio.gather(
                *(
                    _customer(session, base, c, start + i)
                    for i, c in enumerate(customers[start : start + 50])
                )
            )
    return customers


async def run(ctx: Context) -> Section:
    s = ctx.sizes
    customers_count = 40 if s.payments < 1000 else 2_000
    section = Section(
        "itemstate",
        "payment.itemstate vs status.json, same daemon, same run",
        ["endpoint", "connections", "requests/s", "p50 ms", "p99 ms", "non-200"],
    )
    work = ctx.dir("itemstate")
    db = ctx.copy_seeded(work)
    ids = work / "ids.txt"
    conn = sqlite3.connect(db)
    try:
        ids.write_text("\n".join(r[0] for r in conn.execute("SELECT id FROM payments")) + "\n")
    finally:
        conn.close()
    daemon = BenchDaemon(ctx.daemon_config(work, db, MEDIA_CONFIG))
    try:
        started = time.perf_counter()
        customers = await _seed_customers(daemon.rpc_url, customers_count)
        say(f"itemstate: {len(customers)} customers seeded in {time.perf_counter() - started:.1f}s")
        who = work / "customers.txt"
        who.write_text("\n".join(customers) + "\n")
        results = {}
        for name, mode, base, file in (
            ("status.json", "status", daemon.public_url, ids),
            ("payment.itemstate (POST /api/v0/rpc)", "itemstate", daemon.rpc_url, who),
            ("payment:itemstate (/ws frames)", "itemstate-ws", daemon.rpc_url, who),
        ):
            say(f"itemstate: load on {name}")
            r = await loadgen(
                mode,
                base,
                concurrency=s.connections,
                duration=s.duration,
                warmup=s.warmup,
                ids_file=file,
            )
            results[name] = r
            failures = int(r["total_including_warmup"]) - int(r["ok"])
            section.rows.append([name, s.connections, r["rps"], r["p50_ms"], r["p99_ms"], failures])
        base_rps = results["status.json"]["rps"]
        http = results["payment.itemstate (POST /api/v0/rpc)"]["rps"] / base_rps
        ws = results["payment:itemstate (/ws frames)"]["rps"] / base_rps
        section.ratios["itemstate over /api/v0/rpc / status.json"] = http
        section.ratios["itemstate over /ws / status.json"] = ws
        section.targets.append(
            Target("itemstate/status.json answers/s (/api/v0/rpc)", http, ">=", TARGET_RATIO)
        )
        section.targets.append(
            Target("itemstate/status.json answers/s (/ws)", ws, ">=", TARGET_RATIO)
        )
        section.notes.append(
            f"{len(customers)} customers, each with 2 subscriptions (one ended) and up to 2 "
            "purchases; items drawn from 4 (one unlocked by a group, one by ownage/ppv, two by "
            "no grant); itemstate on the private port's /api/v0/rpc, status.json on the "
            f"public port over {s.payments:,} stored payments"
        )
    finally:
        daemon.stop()
    return section


def main(ctx: Context) -> Section:
    return asyncio.run(run(ctx))

"""Benchmark 2: durable start_payment over HTTP vs a raw aiosqlite insert+commit loop.

Both sides use WAL and ``synchronous=FULL`` on a fresh file of the same schema in the same
directory. The raw ceiling commits once per insert, sequentially (one fsync each); the daemon
answers a call only after the commit holding it, and groups the inserts that queue up while
a commit is in flight into one transaction, so payments per commit grows with concurrency.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from pathlib import Path

import aiosqlite

from bench.context import Context, say
from bench.procs import BenchDaemon, loadgen
from bench.report import Section, Target
from bench.seed import COLUMNS, migrate
from xbtcpay.models import CRYPTO, Payment
from xbtcpay.processor import new_payment_id
from xbtcpay.state import State
from xbtcpay.storage.payments import to_column
from decimal import Decimal

TARGET_RPS = 1000.0
TARGET_RATIO = 0.5


def _row(n: int, now: int) -> list[object]:
    p = Payment(id=new_payment_id(), method=CRYPTO, asset="0xbtc", amount=Decimal("1.5"),
                status=State.NEW, created_at=now, address=f"0x{n:040x}",
                derivation_index=n, expires_at=now + 86400,
                data=json.dumps({"bench": True}), updated_at=now)
    return [to_column(c, getattr(p, c)) for c in COLUMNS]


async def raw_ceiling(db: Path, duration: float, warmup: float) -> dict[str, float]:
    """Sequential BEGIN; INSERT; COMMIT on aiosqlite, WAL + synchronous=FULL; inserts/s."""
    migrate(db)
    sql = f"INSERT INTO payments ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"
    now = int(time.time())
    async with aiosqlite.connect(db, isolation_level=None) as conn:
        await conn.execute("PRAGMA journal_mode=WAL")
        await conn.execute("PRAGMA synchronous=FULL")
        n, counted, started = 0, 0, time.perf_counter()
        measure_from = started + warmup
        deadline = measure_from + duration
        while (t := time.perf_counter()) < deadline:
            await conn.execute("BEGIN IMMEDIATE")
            await conn.execute(sql, _row(n, now))
            await conn.execute("COMMIT")
            n += 1
            if t >= measure_from:
                counted += 1
    return {"rps": counted / duration, "inserts": n}


def _stored(db: Path) -> int:
    conn = sqlite3.connect(db)
    try:
        return int(conn.execute("SELECT COUNT(*) FROM payments").fetchone()[0])
    finally:
        conn.close()


async def run(ctx: Context) -> Section:
    """Raw ceiling first, then the daemon at each concurrency level."""
    s = ctx.sizes
    section = Section("start", "2. start_payment throughput, durable (WAL, synchronous=FULL)",
                      ["writer", "concurrent clients", "payments/s", "p50 ms", "p99 ms",
                       "commits/s", "payments per commit"])
    work = ctx.dir("start")
    say("start: raw aiosqlite insert+commit loop")
    raw = await raw_ceiling(work / "raw.db", s.duration, s.warmup)
    section.rows.append(["raw aiosqlite, 1 insert per commit", 1, raw["rps"], None, None,
                         raw["rps"], 1.0])
    db = work / "xbtcpay.db"
    daemon = BenchDaemon(ctx.daemon_config(work, db))
    acknowledged, best = 0, 0.0
    try:
        for clients in s.start_concurrency:
            say(f"start: daemon with {clients} concurrent clients")
            before = daemon.stats()["commits"]
            started = time.perf_counter()
            r = await loadgen("start", daemon.rpc_url, concurrency=clients,
                              duration=s.duration, warmup=s.warmup)
            elapsed = time.perf_counter() - started
            commits = daemon.stats()["commits"] - before
            ok = int(r["ok"])
            acknowledged += ok
            best = max(best, float(r["rps"]))
            section.rows.append(["xbtcpay daemon over JSON-RPC", clients, r["rps"], r["p50_ms"],
                                 r["p99_ms"], commits / elapsed,
                                 ok / commits if commits else None])
            if r["total_including_warmup"] != ok:
                section.notes.append(f"{r['total_including_warmup'] - ok} failed calls "
                                     f"at {clients} clients")
    finally:
        daemon.stop()
    stored = _stored(db)
    section.notes.append(f"{acknowledged:,} payments acknowledged, {stored:,} stored after "
                         "shutdown (each acknowledged only after its commit)")
    section.ratios["daemon best / raw ceiling"] = best / raw["rps"]
    section.targets.append(Target("daemon payments/s (best level)", best, ">=", TARGET_RPS))
    section.targets.append(Target("daemon / raw ceiling", best / raw["rps"], ">=",
                                  TARGET_RATIO))
    return section


def main(ctx: Context) -> Section:
    return asyncio.run(run(ctx))

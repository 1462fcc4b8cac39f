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
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path

import aiosqlite

from bench.context import Context, say
from bench.procs import BenchDaemon, loadgen
from bench.report import Section, Target
from bench.seed import COLUMNS, migrate
from xbtcpay.core.models import CRYPTO, Payment
from xbtcpay.core.processor import new_payment_id
from xbtcpay.core.state import State
from xbtcpay.storage.payments import to_column

TARGET_RPS = 1000.0
TARGET_RATIO = 0.9  # at each of TARGET_LEVELS concurrent clients
TARGET_LEVELS = (16, 64)


def _row(n: int, now: int) -> list[object]:
    p = Payment(
        id=new_payment_id(),
        method=CRYPTO,
        asset="0xbtc",
        amount=Decimal("1.5"),
        status=State.NEW,
        created_at=now,
        address=f"0x{n:040x}",
        derivation_index=n,
        expires_at=now + 86400,
        data=json.dumps({"bench": True}),
        updated_at=now,
    )
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


async def batched_like_daemon(
    db: Path, duration: float, warmup: float, per_commit: int
) -> dict[str, float]:
    """The daemon's own statements per payment (savepoint, counter, insert, event, release)
    through aiosqlite, ``per_commit`` payments per transaction: the hop-bound ceiling of
    the current writer design, where each statement is one trip to aiosqlite's thread."""
    migrate(db)
    cols = ", ".join(COLUMNS)
    sql = f"INSERT INTO payments ({cols}) VALUES ({', '.join('?' * len(COLUMNS))})"
    event = (
        "INSERT INTO payment_events (event_id, payment_id, event, from_state, to_state,"
        " at, source, details) VALUES (?, ?, 'created', NULL, 'new', ?, 'crypto', '{}')"
    )
    now = int(time.time())
    async with aiosqlite.connect(db, isolation_level=None) as conn:
        await conn.execute("PRAGMA journal_mode=WAL")
        await conn.execute("PRAGMA synchronous=FULL")
        n, counted, started = 0, 0, time.perf_counter()
        measure_from = started + warmup
        deadline = measure_from + duration
        while (t := time.perf_counter()) < deadline:
            await conn.execute("BEGIN IMMEDIATE")
            for _ in range(per_commit):
                row = _row(n, now)
                await conn.execute("SAVEPOINT op")
                await conn.execute(
                    "INSERT OR IGNORE INTO counters (name, value) VALUES ('derivation_index', 10)"
                )
                async with conn.execute(
                    "UPDATE counters SET value = value + 1 WHERE name ="
                    " 'derivation_index' RETURNING value - 1"
                ) as cur:
                    await cur.fetchone()
                await conn.execute(sql, row)
                await conn.execute(event, (f"evt_{n}", row[0], now))
                await conn.execute("RELEASE op")
                n += 1
            await conn.execute("COMMIT")
            if t >= measure_from:
                counted += per_commit
    return {"rps": counted / duration}


def _sync_batch(
    conn: sqlite3.Connection, rows: list[list[object]], first: int, now: int, sql: str, event: str
) -> None:
    conn.execute("BEGIN IMMEDIATE")
    for n, row in enumerate(rows, first):
        conn.execute("SAVEPOINT op")
        conn.execute("INSERT OR IGNORE INTO counters (name, value) VALUES ('derivation_index', 10)")
        conn.execute(
            "UPDATE counters SET value = value + 1 WHERE name = 'derivation_index'"
            " RETURNING value - 1"
        ).fetchone()
        conn.execute(sql, row)
        conn.execute(event, (f"evt_{n}", row[0], now))
        conn.execute("RELEASE op")
    conn.execute("COMMIT")


async def batched_one_hop(
    db: Path, duration: float, warmup: float, per_commit: int
) -> dict[str, float]:
    """The same statements as ``batched_like_daemon`` but the whole transaction runs in one
    call to a writer thread (plain sqlite3): the ceiling of a one-hop-per-batch writer."""
    migrate(db)
    cols = ", ".join(COLUMNS)
    sql = f"INSERT INTO payments ({cols}) VALUES ({', '.join('?' * len(COLUMNS))})"
    event = (
        "INSERT INTO payment_events (event_id, payment_id, event, from_state, to_state,"
        " at, source, details) VALUES (?, ?, 'created', NULL, 'new', ?, 'crypto', '{}')"
    )
    now = int(time.time())
    loop = asyncio.get_running_loop()
    with ThreadPoolExecutor(1) as writer:
        conn = await loop.run_in_executor(
            writer, lambda: sqlite3.connect(db, isolation_level=None, check_same_thread=False)
        )
        await loop.run_in_executor(writer, conn.execute, "PRAGMA journal_mode=WAL")
        await loop.run_in_executor(writer, conn.execute, "PRAGMA synchronous=FULL")
        n, counted, started = 0, 0, time.perf_counter()
        measure_from = started + warmup
        deadline = measure_from + duration
        while (t := time.perf_counter()) < deadline:
            rows = [_row(n + i, now) for i in range(per_commit)]
            await loop.run_in_executor(writer, _sync_batch, conn, rows, n, now, sql, event)
            n += per_commit
            if t >= measure_from:
                counted += per_commit
        await loop.run_in_executor(writer, conn.close)
    return {"rps": counted / duration}


def _stored(db: Path) -> int:
    conn = sqlite3.connect(db)
    try:
        return int(conn.execute("SELECT COUNT(*) FROM payments").fetchone()[0])
    finally:
        conn.close()


async def run(ctx: Context) -> Section:
    """Raw ceiling first, then the daemon at each concurrency level."""
    s = ctx.sizes
    section = Section(
        "start",
        "2. start_payment throughput, durable (WAL, synchronous=FULL)",
        [
            "writer",
            "concurrent clients",
            "payments/s",
            "p50 ms",
            "p99 ms",
            "commits/s",
            "payments per commit",
        ],
    )
    work = ctx.dir("start")
    say("start: raw aiosqlite insert+commit loop")
    raw = await raw_ceiling(work / "raw.db", s.duration, s.warmup)
    section.rows.append(
        ["raw aiosqlite, 1 insert per commit", 1, raw["rps"], None, None, raw["rps"], 1.0]
    )
    per_commit = max(s.start_concurrency)
    say(f"start: the daemon's statements through aiosqlite, {per_commit} per commit")
    hops = await batched_like_daemon(work / "hops.db", s.duration, s.warmup, per_commit)
    section.rows.append(
        [
            f"aiosqlite, the daemon's 7 calls/payment, {per_commit} per commit",
            "-",
            hops["rps"],
            None,
            None,
            hops["rps"] / per_commit,
            per_commit,
        ]
    )
    one_hop = await batched_one_hop(work / "onehop.db", s.duration, s.warmup, per_commit)
    label = f"sqlite3, same statements, 1 thread hop per {per_commit}-payment commit"
    section.rows.append(
        [label, "-", one_hop["rps"], None, None, one_hop["rps"] / per_commit, per_commit]
    )
    db = work / "xbtcpay.db"
    daemon = BenchDaemon(ctx.daemon_config(work, db))
    acknowledged, best = 0, 0.0
    by_level: dict[int, float] = {}
    try:
        for clients in s.start_concurrency:
            say(f"start: daemon with {clients} concurrent clients")
            before = daemon.stats()["commits"]
            started = time.perf_counter()
            r = await loadgen(
                "start", daemon.rpc_url, concurrency=clients, duration=s.duration, warmup=s.warmup
            )
            elapsed = time.perf_counter() - started
            commits = daemon.stats()["commits"] - before
            ok = int(r["ok"])
            acknowledged += ok
            best = max(best, float(r["rps"]))
            by_level[clients] = float(r["rps"])
            section.rows.append(
                [
                    "xbtcpay daemon over JSON-RPC",
                    clients,
                    r["rps"],
                    r["p50_ms"],
                    r["p99_ms"],
                    commits / elapsed,
                    ok / commits if commits else None,
                ]
            )
            if r["total_including_warmup"] != ok:
                section.notes.append(
                    f"{r['total_including_warmup'] - ok} failed calls at {clients} clients"
                )
    finally:
        daemon.stop()
    stored = _stored(db)
    section.notes.append(
        f"{acknowledged:,} payments acknowledged, {stored:,} stored after "
        "shutdown (each acknowledged only after its commit)"
    )
    section.notes.append(
        "the raw ceiling's table and durability are the daemon's; it skips "
        "HTTP, JSON-RPC, validation, address derivation and the event row"
    )
    section.ratios["daemon best / raw ceiling"] = best / raw["rps"]
    section.targets.append(Target("daemon payments/s (best level)", best, ">=", TARGET_RPS))
    for clients in TARGET_LEVELS:
        if clients in by_level:
            ratio = by_level[clients] / raw["rps"]
            section.ratios[f"daemon at {clients} clients / raw ceiling"] = ratio
            section.targets.append(
                Target(f"daemon / raw ceiling, {clients} clients", ratio, ">=", TARGET_RATIO)
            )
    return section


def main(ctx: Context) -> Section:
    return asyncio.run(run(ctx))

"""``python -m bench.pg_miss [--payments N] [--reads N]``: CPU per status.json miss on PostgreSQL.

A status.json cache miss on PostgreSQL is one primary-key read and a render. This measures,
in this one process and one step at a time, the CPU time each part costs per request
(``time.process_time`` over ``reads`` sequential calls with random ids), so other load on the
machine matters less than it does to a requests/s figure. Steps:

- the point read as the bare baseline does it (``pool.fetchrow``: acquire, the read, and on
  release the pool's reset query, a second round trip), and as the engine does it
  (``PostgresDatabase.point``);
- the same read on one connection (no acquire, no reset) and on a prepared statement;
- ``row_to_payment`` of the record and ``render_status`` of the payment (the daemon's work on
  top of the read);
- ``PaymentStore.get`` + ``render_status``: the whole miss below the HTTP layer;
- ``PaymentStore.get`` and ``engine.point`` 32 at a time, as misses arrive under load
  (``PaymentStore.get`` reads the ids asked for together in one statement).

It starts its own PostgreSQL server and seeds it like ``bench postgres`` (``db copy`` of the
seeded SQLite payments).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg

from bench.context import Context, Sizes
from tests.harness import free_port
from xbtcpay.app.config import load_config
from xbtcpay.chain.handler import ChainHandler
from xbtcpay.core.chain_head import ChainHead
from xbtcpay.core.feed import PaymentFeed
from xbtcpay.core.handlers import PaymentHandlers
from xbtcpay.core.methods import CoreMethods
from xbtcpay.storage.copy import copy_database
from xbtcpay.storage.engines import open_engine
from xbtcpay.storage.payments import PaymentStore, row_to_payment
from xbtcpay.storage.pg_server import PgServer
from xbtcpay.web.status_cache import StatusCache, read_status, render_status

SQL = "SELECT * FROM payments WHERE id = $1"


async def _cpu_per_call(
    name: str, ids: list[str], call: Callable[[str], Awaitable[Any]]
) -> tuple[str, float, float]:
    """(name, CPU µs per call, wall µs per call) over ``ids`` in order."""
    for payment_id in ids[:200]:  # warm caches (statements, codecs)
        await call(payment_id)
    cpu, wall = time.process_time(), time.perf_counter()
    for payment_id in ids:
        await call(payment_id)
    n = len(ids)
    return name, 1e6 * (time.process_time() - cpu) / n, 1e6 * (time.perf_counter() - wall) / n


async def _cpu_per_call_32(
    name: str, ids: list[str], call: Callable[[str], Awaitable[Any]]
) -> tuple[str, float, float]:
    """As ``_cpu_per_call``, 32 calls at a time (as 32 browsers' misses arrive together)."""
    await asyncio.gather(*(call(i) for i in ids[:200]))
    cpu, wall = time.process_time(), time.perf_counter()
    for start in range(0, len(ids), 32):
        await asyncio.gather(*(call(i) for i in ids[start : start + 32]))
    n = len(ids)
    return name, 1e6 * (time.process_time() - cpu) / n, 1e6 * (time.perf_counter() - wall) / n


async def measure(work: Path, payments: int, reads: int) -> list[tuple[str, float, float]]:
    ctx = Context(workdir=work, sizes=Sizes(payments=payments))
    with PgServer(free_port()) as server:
        url = server.create_database("pg_miss")
        source = await open_engine(f"sqlite:///{ctx.seeded()}")
        engine = await open_engine(url)
        try:
            await copy_database(source, engine)
            all_ids = [r[0] for r in await engine.fetchall("SELECT id FROM payments")]
        finally:
            await source.close()
        config = load_config(ctx.daemon_config(ctx.dir("config"), work / "unused.db"))
        core = CoreMethods(config, None, PaymentHandlers([ChainHandler(config)]))  # type: ignore[arg-type]
        store = PaymentStore(engine)
        rng = random.Random(7)
        ids = [rng.choice(all_ids) for _ in range(reads)]
        pool = await asyncpg.create_pool(url, min_size=1, max_size=10)
        conn = await asyncpg.connect(url)
        prepared = await conn.prepare(SQL)
        record = await conn.fetchrow(SQL, ids[0])
        payment = row_to_payment(record)
        results = []
        try:
            results.append(
                await _cpu_per_call(
                    "pool.fetchrow (bare baseline)", ids, lambda i: pool.fetchrow(SQL, i)
                )
            )
            results.append(
                await _cpu_per_call(
                    "engine.point (daemon's read)",
                    ids,
                    lambda i: engine.point("SELECT * FROM payments WHERE id = ?", (i,)),
                )
            )
            results.append(
                await _cpu_per_call(
                    "one connection: conn.fetchrow", ids, lambda i: conn.fetchrow(SQL, i)
                )
            )
            results.append(
                await _cpu_per_call("one connection: prepared.fetchrow", ids, prepared.fetchrow)
            )

            async def decode(_: str) -> Any:
                return row_to_payment(record)

            async def render(_: str) -> Any:
                return render_status(config, core, payment, 100)

            async def miss(payment_id: str) -> Any:
                p = await store.get(payment_id)
                assert p is not None
                return render_status(config, core, p, 100)

            async def get(payment_id: str) -> Any:
                return await store.get(payment_id)

            results.append(await _cpu_per_call("PaymentStore.get", ids, get))
            results.append(
                await _cpu_per_call_32("PaymentStore.get, 32 at a time (batched)", ids, get)
            )
            results.append(
                await _cpu_per_call_32(
                    "engine.point, 32 at a time",
                    ids,
                    lambda i: engine.point("SELECT * FROM payments WHERE id = ?", (i,)),
                )
            )
            results.append(await _cpu_per_call("row_to_payment", ids, decode))
            results.append(await _cpu_per_call("render_status", ids, render))
            results.append(await _cpu_per_call("PaymentStore.get + render_status", ids, miss))
            cache, head = StatusCache(max_entries=0), ChainHead(PaymentFeed())

            async def read(payment_id: str) -> Any:
                return await read_status(cache, store, config, core, head, payment_id)

            results.append(
                await _cpu_per_call("read_status (a miss, as the fast path runs it)", ids, read)
            )
        finally:
            await conn.close()
            await pool.close()
            await engine.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.pg_miss")
    parser.add_argument("--payments", type=int, default=20_000)
    parser.add_argument("--reads", type=int, default=5_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="pg-miss-") as tmp:
        rows = asyncio.run(measure(Path(tmp), args.payments, args.reads))
    print("| step | CPU µs/call | wall µs/call |")
    print("| --- | --- | --- |")
    for name, cpu, wall in rows:
        print(f"| {name} | {cpu:.0f} | {wall:.0f} |")


if __name__ == "__main__":
    main()

"""Point reads on PostgreSQL (``Engine.point``, a status.json cache miss) run on connections
of their own: each caller gets its own row under concurrency, the engine stays within
``database_pool_size`` connections, a failed statement costs no connection, and a server
that went away and came back is read again without a restart."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import pytest

from tests.harness import free_port, wait_until
from xbtcpay.core.errors import StorageError
from xbtcpay.core.persistence import UnitOfWork
from xbtcpay.storage.pg_server import PgServer
from xbtcpay.storage.postgres import PostgresDatabase, point_connections

SELECT = "SELECT id, body FROM notes WHERE id = ?"


async def _notes(engine: PostgresDatabase, count: int) -> None:
    async def setup(uow: UnitOfWork) -> None:
        await uow.execute("CREATE TABLE notes (id TEXT PRIMARY KEY, body TEXT NOT NULL)")
        await uow.executemany(
            "INSERT INTO notes (id, body) VALUES (?, ?)",
            [(f"n{i}", f"body {i}") for i in range(count)],
        )

    await engine.transact(setup)


@pytest.fixture
async def engine(postgres: PgServer) -> AsyncIterator[PostgresDatabase]:
    db = PostgresDatabase(postgres.create_database("point_reads"), pool_size=10)
    await db.open()
    await _notes(db, 500)
    try:
        yield db
    finally:
        await db.close()
        postgres.drop_database("point_reads")


async def test_concurrent_point_reads_each_get_their_own_row(engine: PostgresDatabase) -> None:
    keys = [f"n{i}" for i in range(500)] + ["missing", "n\x00"]
    rows = await asyncio.gather(*(engine.point(SELECT, (key,)) for key in keys))
    assert [(r["id"], r["body"]) for r in rows[:500]] == [
        (f"n{i}", f"body {i}") for i in range(500)
    ]
    assert rows[500:] == [None, None]  # no such id; text with NUL matches nothing


async def test_the_engine_stays_within_its_pool_size(
    engine: PostgresDatabase, postgres: PgServer
) -> None:
    assert point_connections(10) == 5
    assert point_connections(3) == 0  # a small pool keeps every connection it has

    async def hold_pool_connection() -> None:
        await engine.fetchall("SELECT pg_sleep(1.5)")  # a reader of the pool, held busy

    async def busy_unit() -> None:
        async def unit(uow: UnitOfWork) -> None:
            await uow.execute("SELECT pg_sleep(1.5)")

        await engine.transact(unit)

    holders = [asyncio.create_task(hold_pool_connection()) for _ in range(20)]
    holders.append(asyncio.create_task(busy_unit()))
    rows = await asyncio.gather(*(engine.point(SELECT, (f"n{i}",)) for i in range(200)))
    assert all(rows)  # answered while the pool is taken
    conn = await asyncpg.connect(postgres.url("point_reads"))
    mine = "FROM pg_stat_activity WHERE datname = 'point_reads' AND application_name = 'xbtcpay'"
    try:

        async def pool_full() -> bool:
            sleeping = await conn.fetchval(f"SELECT count(*) {mine} AND query LIKE '%pg_sleep%'")
            return int(sleeping) >= 5

        await wait_until(pool_full, timeout=20)
        count = await conn.fetchval(f"SELECT count(*) {mine}")
    finally:
        await conn.close()
    await asyncio.gather(*holders)
    assert count == 10  # the pool's 5 (the writer's included) and the 5 point readers


async def test_a_failed_statement_keeps_its_connection(engine: PostgresDatabase) -> None:
    backend = "SELECT pg_backend_pid() AS pid"
    before = (await engine.point(backend))["pid"]
    for _ in range(8):  # more failures than point connections
        with pytest.raises(StorageError):
            await engine.point("SELECT no_such_column FROM notes WHERE id = ?", ("n1",))
    assert (await engine.point(SELECT, ("n1",)))["body"] == "body 1"
    assert (await engine.point(backend))["pid"] == before  # the same server connection


async def test_point_reads_come_back_with_the_server() -> None:
    with PgServer(free_port()) as server:
        engine = PostgresDatabase(server.create_database("comeback"), pool_size=10)
        await engine.open()
        try:
            await _notes(engine, 3)
            assert (await engine.point(SELECT, ("n2",)))["body"] == "body 2"
            server.halt("fast")
            with pytest.raises(StorageError, match="database unavailable"):
                await engine.point(SELECT, ("n2",))
            server.resume()

            async def readable() -> bool:
                try:
                    return bool((await engine.point(SELECT, ("n2",)))["body"] == "body 2")
                except StorageError:
                    return False

            assert await wait_until(readable, timeout=20)
        finally:
            await engine.close()
        with pytest.raises(StorageError, match="closed"):
            await engine.point(SELECT, ("n2",))

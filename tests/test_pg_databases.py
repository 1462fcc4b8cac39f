"""The PostgreSQL test databases (tests/pg_databases.py): a database is reused only when its
schema is exactly the migrated one, and then it has no rows and its ids start again."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import asyncpg
import pytest

from tests.pg_databases import DatabasePool
from xbtcpay.storage.pg_server import PgServer
from xbtcpay.storage.postgres import PostgresDatabase


def _in_thread(url: str, *statements: str) -> list[Any]:
    """Run ``statements`` on ``url`` (off this test's loop: DatabasePool blocks it)."""

    async def run() -> list[Any]:
        conn = await asyncpg.connect(url)
        try:
            return [await conn.fetch(sql) for sql in statements]
        finally:
            await conn.close()

    return asyncio.run(run())


def _migrate(url: str) -> None:
    async def run() -> None:
        db = PostgresDatabase(url)
        await db.open()
        try:
            await db.migrate()
        finally:
            await db.close()

    asyncio.run(run())


def _databases(server: PgServer) -> list[str]:
    return sorted(server.psql("SELECT datname FROM pg_database WHERE datname LIKE 't%'").split())


@pytest.fixture
def dbs(postgres: PgServer) -> Iterator[DatabasePool]:
    """A pool of its own on the PostgreSQL server (its spares dropped at the end)."""
    pool = DatabasePool(str(postgres.port))
    try:
        yield pool
    finally:
        pool.close()


def test_a_database_with_only_rows_changed_comes_back_empty_with_ids_from_one(
    dbs: DatabasePool, postgres: PgServer
) -> None:
    dbs.take("t_rows_first")
    _migrate(dbs.url("t_rows_first"))
    _in_thread(
        dbs.url("t_rows_first"),
        "INSERT INTO counters (name, value) VALUES ('derivation_index', 41)",
        "INSERT INTO claims (key, claimed_at) VALUES ('k', 1)",
        "SELECT nextval(pg_get_serial_sequence('payment_events', 'seq'))",
        "SELECT nextval(pg_get_serial_sequence('payment_events', 'seq'))",
    )
    left_open = asyncio.run(asyncpg.connect(dbs.url("t_rows_first")))  # a daemon left behind
    dbs.give_back("t_rows_first")
    assert "t_rows_first" not in _databases(postgres)
    del left_open

    dbs.take("t_rows_second")
    assert dbs.reused == 1
    counters, claims, sequence, migrations = _in_thread(
        dbs.url("t_rows_second"),
        "SELECT * FROM counters",
        "SELECT * FROM claims",
        "SELECT nextval(pg_get_serial_sequence('payment_events', 'seq')) AS n",
        "SELECT count(*) AS n FROM schema_migrations",
    )
    assert counters == [] and claims == []
    assert sequence[0]["n"] == 1  # ids start again
    assert migrations[0]["n"] > 0  # migrated: the product's start-up finds nothing to do
    dbs.give_back("t_rows_second")


def test_a_database_whose_schema_changed_is_dropped_not_reused(
    dbs: DatabasePool, postgres: PgServer
) -> None:
    dbs.take("t_schema_first")
    _migrate(dbs.url("t_schema_first"))
    dbs.give_back("t_schema_first")  # the migrated one is kept
    dbs.take("t_schema_second")
    assert dbs.reused == 1
    _in_thread(dbs.url("t_schema_second"), "ALTER TABLE payments ADD COLUMN note TEXT")
    dbs.give_back("t_schema_second")
    assert "t_schema_second" not in _databases(postgres)

    dbs.take("t_schema_third")  # nothing to reuse but the reference copy
    tables = _in_thread(
        dbs.url("t_schema_third"),
        "SELECT column_name FROM information_schema.columns"
        " WHERE table_name = 'payments' AND column_name = 'note'",
    )[0]
    assert tables == []
    dbs.give_back("t_schema_third")

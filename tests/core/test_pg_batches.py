"""The PostgreSQL writer's batches: units queued together share one commit and still fail
alone, whether the batch runs without savepoints or falls back to one per unit."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from xbtcpay.core.errors import ConstraintViolation, StorageError
from xbtcpay.core.persistence import UnitOfWork
from xbtcpay.storage.engines import open_engine
from xbtcpay.storage.pg_server import PgServer
from xbtcpay.storage.postgres import PostgresDatabase

Unit = Callable[[UnitOfWork], Awaitable[Any]]


@pytest.fixture
async def db(postgres: PgServer) -> AsyncIterator[PostgresDatabase]:
    engine = await open_engine(postgres.create_database("batches_" + secrets.token_hex(4)))
    assert isinstance(engine, PostgresDatabase)
    try:
        yield engine
    finally:
        await engine.close()


def insert(name: str) -> Unit:
    async def work(uow: UnitOfWork) -> str:
        await uow.execute("INSERT INTO counters (name, value) VALUES (?, 1)", (name,))
        return name

    return work


async def in_one_batch(db: PostgresDatabase, units: list[Unit]) -> list[Any]:
    """Run ``units`` as one batch: queued while a unit holds the writer."""
    holding, release = asyncio.Event(), asyncio.Event()

    async def hold(uow: UnitOfWork) -> None:
        holding.set()
        await release.wait()

    held = asyncio.create_task(db.transact(hold))
    await holding.wait()
    queued = [asyncio.create_task(db.transact(u)) for u in units]
    await asyncio.sleep(0.05)  # every unit is in the writer's queue
    commits = db.commits
    release.set()
    await held
    results = await asyncio.gather(*queued, return_exceptions=True)
    assert db.commits - commits == 2  # the holder's, then the batch's
    return results


async def names(db: PostgresDatabase) -> list[str]:
    rows = await db.fetchall("SELECT name FROM counters WHERE name LIKE 'u%' ORDER BY name")
    return [r["name"] for r in rows]


async def test_a_batch_without_failures_commits_together(db: PostgresDatabase) -> None:
    assert await in_one_batch(db, [insert(f"u{n}") for n in range(5)]) == [
        f"u{n}" for n in range(5)
    ]
    assert await names(db) == [f"u{n}" for n in range(5)]
    assert db._writer is not None and db._writer.together == 1  # noqa: SLF001


async def test_a_failing_unit_fails_alone_and_its_batch_mates_commit(db: PostgresDatabase) -> None:
    async def mistaken(uow: UnitOfWork) -> None:
        await uow.execute("INSERT INTO counters (name, value) VALUES ('u9', 1)")
        raise ValueError("the unit's own error")

    await db.transact(insert("u0"))
    results = await in_one_batch(db, [insert("u1"), mistaken, insert("u0"), insert("u3")])
    assert results[0] == "u1" and results[3] == "u3"
    assert isinstance(results[1], ValueError)
    assert isinstance(results[2], ConstraintViolation)  # u0 exists
    assert await names(db) == ["u0", "u1", "u3"]


async def test_a_unit_that_swallows_a_failed_statement_never_commits_its_batch_silently(
    db: PostgresDatabase,
) -> None:
    """After a failed statement PostgreSQL turns COMMIT into ROLLBACK without an error: the
    batch must not report its units as committed. The swallowing unit comes last."""

    async def swallowing(uow: UnitOfWork) -> str:
        with contextlib.suppress(ConstraintViolation):
            await uow.execute("INSERT INTO counters (name, value) VALUES ('u0', 1)")
        return "swallowed"

    await db.transact(insert("u0"))
    results = await in_one_batch(db, [insert("u1"), insert("u2"), swallowing])
    stored = await names(db)
    for name, result in zip(("u1", "u2"), results, strict=False):
        assert (result == name) == (name in stored)  # reported committed only if it is
    assert isinstance(results[2], StorageError)
    assert stored == ["u0", "u1", "u2"]


async def test_a_unit_alone_that_swallows_a_failed_statement_is_not_reported_committed(
    db: PostgresDatabase,
) -> None:
    async def swallowing(uow: UnitOfWork) -> str:
        await uow.execute("INSERT INTO counters (name, value) VALUES ('u5', 1)")
        with contextlib.suppress(ConstraintViolation):
            await uow.execute("INSERT INTO counters (name, value) VALUES ('u0', 1)")
        return "swallowed"

    await db.transact(insert("u0"))
    with pytest.raises(StorageError):
        await db.transact(swallowing)
    assert await names(db) == ["u0"]

"""Two replicas whose units lock the same rows in opposite order: PostgreSQL breaks the
deadlock by failing one of them, and the writer runs that unit again instead of answering
the caller ``-32011 Storage unavailable`` (purchases by one customer on two replicas at once
met this: the balance row and the company's receipt counter, locked in batch order)."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable, Callable

from xbtcpay.core.persistence import UnitOfWork
from xbtcpay.storage.engines import open_engine
from xbtcpay.storage.pg_server import PgServer
from xbtcpay.storage.postgres import PostgresDatabase


async def _locked_in_order(
    engine: PostgresDatabase,
    first: str,
    second: str,
    mine: asyncio.Event,
    theirs: asyncio.Event,
    runs: list[str],
) -> None:
    async def work(uow: UnitOfWork) -> None:
        runs.append(first)
        await uow.execute("UPDATE rows_ SET n = n + 1 WHERE k = ?", (first,))
        mine.set()
        await theirs.wait()  # both hold their first row now
        await uow.execute("UPDATE rows_ SET n = n + 1 WHERE k = ?", (second,))

    await engine.transact(work)


async def test_a_unit_chosen_as_deadlock_victim_is_run_again_and_both_commit(
    postgres: PgServer,
) -> None:
    url = postgres.create_database("deadlock_" + secrets.token_hex(4))
    a, b = await open_engine(url), await open_engine(url)
    assert isinstance(a, PostgresDatabase) and isinstance(b, PostgresDatabase)
    try:

        async def setup(uow: UnitOfWork) -> None:
            await uow.execute("CREATE TABLE rows_ (k TEXT PRIMARY KEY, n BIGINT NOT NULL)")
            await uow.execute("INSERT INTO rows_ (k, n) VALUES ('x', 0), ('y', 0)")

        await a.transact(setup)
        x_held, y_held = asyncio.Event(), asyncio.Event()
        runs: list[str] = []
        await asyncio.wait_for(
            asyncio.gather(
                _locked_in_order(a, "x", "y", x_held, y_held, runs),
                _locked_in_order(b, "y", "x", y_held, x_held, runs),
            ),
            timeout=30,
        )
        rows = {r["k"]: r["n"] for r in await a.fetchall("SELECT k, n FROM rows_")}
        assert rows == {"x": 2, "y": 2}  # both units committed, each exactly once
        # the victim ran again; its retry can meet the other unit's lock once more (it may take
        # the first row again before the waiting unit does) and be the victim again
        assert len(runs) >= 3 and len(set(runs)) == 2
    finally:
        await a.close()
        await b.close()


async def test_a_victim_inside_a_batch_is_run_again_and_its_batch_mates_commit_once(
    postgres: PgServer,
) -> None:
    url = postgres.create_database("deadlock_" + secrets.token_hex(4))
    a, b = await open_engine(url), await open_engine(url)
    assert isinstance(a, PostgresDatabase) and isinstance(b, PostgresDatabase)
    try:

        async def setup(uow: UnitOfWork) -> None:
            await uow.execute("CREATE TABLE rows_ (k TEXT PRIMARY KEY, n BIGINT NOT NULL)")
            await uow.execute(
                "INSERT INTO rows_ (k, n) VALUES ('x', 0), ('y', 0), ('a', 0), ('b', 0)"
            )

        await a.transact(setup)

        def innocent(row: str) -> Callable[[UnitOfWork], Awaitable[None]]:
            async def work(uow: UnitOfWork) -> None:  # a row of its own replica
                await uow.execute("UPDATE rows_ SET n = n + 1 WHERE k = ?", (row,))

            return work

        x_held, y_held = asyncio.Event(), asyncio.Event()
        runs: list[str] = []
        commits = (a.commits, b.commits)
        await asyncio.wait_for(
            asyncio.gather(
                a.transact(innocent("a")),
                _locked_in_order(a, "x", "y", x_held, y_held, runs),
                b.transact(innocent("b")),
                _locked_in_order(b, "y", "x", y_held, x_held, runs),
            ),
            timeout=30,
        )
        assert (a.commits - commits[0], b.commits - commits[1]) == (1, 1)  # one batch each
        rows = {r["k"]: r["n"] for r in await a.fetchall("SELECT k, n FROM rows_")}
        assert rows == {"x": 2, "y": 2, "a": 1, "b": 1}
        assert len(runs) == 3
    finally:
        await a.close()
        await b.close()

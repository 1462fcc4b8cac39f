"""A read issued after a unit of work was acknowledged sees it, even while other reads of
the same engine are in flight (on SQLite they share one reader connection, and a cursor
left open across an await would pin every read to an old snapshot)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests import pg
from xbtcpay.core.persistence import UnitOfWork
from xbtcpay.storage.engines import open_engine


async def test_reads_after_an_acknowledged_commit_see_it_under_concurrent_reads(
    tmp_path: Path,
) -> None:
    engine = await open_engine(pg.database_url(tmp_path))
    try:

        async def setup(uow: UnitOfWork) -> None:
            await uow.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL)")
            await uow.executemany(
                "INSERT INTO notes (id, body) VALUES (?, ?)", [(i, "old") for i in range(1, 2001)]
            )

        await engine.transact(setup)
        stop = asyncio.Event()

        async def reader() -> None:
            while not stop.is_set():
                await engine.fetchall("SELECT id, body FROM notes WHERE id < 2000")

        readers = [asyncio.create_task(reader()) for _ in range(8)]
        missed = []
        try:
            for key in range(10_000, 10_300):

                async def add(uow: UnitOfWork, key: int = key) -> None:
                    await uow.execute("INSERT INTO notes (id, body) VALUES (?, 'new')", (key,))

                await engine.transact(add)
                if await engine.fetchone("SELECT id FROM notes WHERE id = ?", (key,)) is None:
                    missed.append(key)
        finally:
            stop.set()
            await asyncio.gather(*readers)
        assert missed == []
    finally:
        await engine.close()

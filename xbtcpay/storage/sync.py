"""Run the stores' write ops (written against aiosqlite's async API) synchronously on the
writer thread, so a whole batch costs one thread hand-off instead of one per statement.

An op only ever awaits this connection, whose awaitables complete at once; ``drive`` runs
such a coroutine to completion without an event loop and refuses one that really suspends.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Coroutine, Generator, Iterable
from typing import Any


class SyncCursor:
    """The subset of aiosqlite's Cursor the write ops use."""

    def __init__(self, cursor: sqlite3.Cursor) -> None:
        self._cursor = cursor

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    @property
    def lastrowid(self) -> int | None:
        return self._cursor.lastrowid

    async def fetchone(self) -> Any:
        return self._cursor.fetchone()

    async def fetchall(self) -> list[Any]:
        return self._cursor.fetchall()

    async def close(self) -> None:
        self._cursor.close()

    def __aiter__(self) -> SyncCursor:
        return self

    async def __anext__(self) -> Any:
        row = self._cursor.fetchone()
        if row is None:
            raise StopAsyncIteration
        return row


class SyncResult:
    """What ``execute`` returns: awaitable (a cursor) and an async context manager."""

    def __init__(self, cursor: sqlite3.Cursor) -> None:
        self._cursor = SyncCursor(cursor)

    def __await__(self) -> Generator[Any, None, SyncCursor]:
        return self._now().__await__()

    async def _now(self) -> SyncCursor:
        return self._cursor

    async def __aenter__(self) -> SyncCursor:
        return self._cursor

    async def __aexit__(self, *exc: object) -> None:
        await self._cursor.close()


class SyncConnection:
    """The subset of aiosqlite's Connection the write ops use, over a sqlite3 connection."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def execute(self, sql: str, parameters: Iterable[Any] = ()) -> SyncResult:
        return SyncResult(self._conn.execute(sql, tuple(parameters)))

    def executemany(self, sql: str, parameters: Iterable[Iterable[Any]]) -> SyncResult:
        return SyncResult(self._conn.executemany(sql, (tuple(p) for p in parameters)))


def drive(coro: Coroutine[Any, Any, Any]) -> Any:
    """Run a coroutine that never suspends; return its value."""
    try:
        coro.send(None)
    except StopIteration as stop:
        return stop.value
    coro.close()
    raise RuntimeError("a write op awaited something other than its database connection")



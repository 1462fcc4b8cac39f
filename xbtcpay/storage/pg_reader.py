"""Point reads on PostgreSQL: a few connections of their own, one round trip per read.

A status.json cache miss (and every other ``Engine.point`` caller: an API key, an admin
session, a payment by id) is one statement that reads one row. Through the asyncpg pool it
costs three times what the read itself costs: ``acquire`` and ``release`` run a good deal of
Python each, and ``release`` sends the pool's reset query (``pg_advisory_unlock_all``,
``CLOSE ALL``, ``UNLISTEN *``, ``RESET ALL``), a second round trip and server work per read.
A single autocommit ``SELECT`` leaves nothing to reset (no transaction, lock, cursor,
listener or setting), so these connections skip it: a read takes a free connection from a
list (a semaphore bounds how many run at once), runs the statement (prepared once per
connection by asyncpg's statement cache) and puts the connection back.

A connection whose read failed with anything but a statement error (a lost server, a
cancelled read mid-protocol) is closed, not reused; the next read opens a new one, so the
reader recovers by itself when the server comes back, as the pool does.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import asyncpg

Connect = Callable[[], Awaitable[Any]]


class PointReader:
    """At most ``size`` single-statement reads at once, each on a connection of its own."""

    def __init__(self, connect: Connect, size: int) -> None:
        self._connect = connect
        self._slots = asyncio.Semaphore(size)
        self._idle: list[Any] = []
        self._busy: set[Any] = set()
        self._closed = False

    async def fetchrow(self, sql: str, params: Sequence[Any]) -> Any:
        """The first row of ``sql`` (already in ``$n`` form), or None."""
        return await self._run("fetchrow", sql, params)

    async def fetch(self, sql: str, params: Sequence[Any]) -> list[Any]:
        """Every row of ``sql`` (a read by several keys at once)."""
        rows: list[Any] = await self._run("fetch", sql, params)
        return rows

    async def _run(self, method: str, sql: str, params: Sequence[Any]) -> Any:
        async with self._slots:
            conn = self._idle.pop() if self._idle else await self._open()
            self._busy.add(conn)
            try:
                result = await getattr(conn, method)(sql, *params)
            except asyncpg.PostgresError:
                self._give_back(conn)  # the statement failed; the connection is fine
                raise
            except BaseException:
                self._busy.discard(conn)
                conn.terminate()
                raise
            self._give_back(conn)
            return result

    async def _open(self) -> Any:
        if self._closed:
            raise asyncpg.InterfaceError("point reader is closed")
        return await self._connect()

    def _give_back(self, conn: Any) -> None:
        self._busy.discard(conn)
        if self._closed or conn.is_closed():
            conn.terminate()
        else:
            self._idle.append(conn)

    async def close(self) -> None:
        """Close every connection: idle ones cleanly, those mid-read at once (their reads
        fail, as reads on a closed pool do)."""
        self._closed = True
        idle, self._idle = self._idle, []
        for conn in idle:
            try:
                await conn.close(timeout=5)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError):
                conn.terminate()
        for conn in list(self._busy):
            conn.terminate()

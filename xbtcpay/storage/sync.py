"""The SQLite unit of work: the ``UnitOfWork`` protocol over the writer's sqlite3 connection.

Units of work are coroutines, but on SQLite they run synchronously on the writer thread, so
a whole batch costs one thread hand-off instead of one per statement. A unit only ever
awaits this object, whose methods complete at once; ``drive`` runs such a coroutine to
completion without an event loop and refuses one that really suspends.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Coroutine, Iterable, Sequence
from typing import Any

from xbtcpay.core.errors import ConstraintViolation


class SqliteUnit:
    """One savepoint of the writer's open transaction, seen as a ``UnitOfWork``."""

    dialect = "sqlite"
    for_update = ""  # the one writer already serialises every unit of work

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        return self._run(sql, params).rowcount

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        try:
            self._conn.executemany(sql, (tuple(r) for r in rows))
        except sqlite3.IntegrityError as exc:
            raise ConstraintViolation(str(exc)) from None

    async def fetchone(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self._run(sql, params).fetchone()

    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        return self._run(sql, params).fetchall()

    def _run(self, sql: str, params: Sequence[Any]) -> sqlite3.Cursor:
        try:
            return self._conn.execute(sql, tuple(params))
        except sqlite3.IntegrityError as exc:
            # a constraint refused the statement: the unit fails alone (its savepoint is
            # rolled back); any other sqlite3 error fails the whole batch
            raise ConstraintViolation(str(exc)) from None


def drive(coro: Coroutine[Any, Any, Any]) -> Any:
    """Run a coroutine that never suspends; return its value."""
    try:
        coro.send(None)
    except StopIteration as stop:
        return stop.value
    coro.close()
    raise RuntimeError("a unit of work awaited something other than its database")

"""The engine a test run uses: SQLite files (default) or a throwaway PostgreSQL server.

``XBTCPAY_TEST_DATABASE=postgresql pytest`` runs the suite against one PostgreSQL server per
session (started by the ``database_server`` fixture in ``tests/conftest.py``); every test
directory given to ``base_config`` gets a database of its own with no rows, given back when
the test ends (``tests/pg_databases.py``: emptied for the next test, or dropped).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import sqlite3
import threading
from pathlib import Path
from typing import Any

import asyncpg

from tests.pg_databases import DatabasePool

PORT_ENV = "XBTCPAY_TEST_PG_PORT"
_CREATED: list[str] = []


def engine() -> str:
    """``sqlite`` or ``postgresql``: the engine this test run uses."""
    name = os.environ.get("XBTCPAY_TEST_DATABASE", "sqlite").lower()
    if name not in ("sqlite", "postgresql"):
        raise RuntimeError(f"XBTCPAY_TEST_DATABASE must be sqlite or postgresql, not {name!r}")
    return name


def on_postgresql() -> bool:
    return engine() == "postgresql"


_DATABASES: DatabasePool | None = None


def _databases() -> DatabasePool:
    """The session server's test databases (one set per server port)."""
    global _DATABASES
    port = os.environ[PORT_ENV]
    if _DATABASES is None or _DATABASES.port != port:
        _DATABASES = DatabasePool(port)
    return _DATABASES


def database_url(directory: Path, filename: str = "xbtcpay.db") -> str:
    """The database of the installation living in ``directory``: on PostgreSQL, a database
    of its own with no rows (tests/pg_databases.py)."""
    if not on_postgresql():
        return f"sqlite:///{directory}/{filename}"
    key = f"{Path(directory).resolve()}/{filename}"
    name = "t_" + hashlib.sha256(key.encode()).hexdigest()[:24]
    if name not in _CREATED:
        _databases().take(name)
        _CREATED.append(name)
    return _databases().url(name)


def created() -> int:
    """How many databases exist so far (a mark for ``drop_databases``)."""
    return len(_CREATED)


def drop_databases(mark: int = 0) -> None:
    """Give back the databases created after ``mark`` (those of the test that just ended;
    databases of module or session fixtures were created before it started): emptied for
    the next test, or dropped."""
    while len(_CREATED) > mark:
        _databases().give_back(_CREATED.pop())


def query(db_file: Path | str, sql: str) -> list[dict[str, Any]]:
    """Rows of ``sql`` read straight from the database of the installation whose SQLite
    file would be ``db_file``, or from a ``postgresql://`` URL (read-only, independently
    of any daemon)."""
    if isinstance(db_file, str):
        return _pg_query(db_file, sql)
    if not on_postgresql():
        conn = sqlite3.connect(f"file:{db_file}?mode=ro", uri=True, timeout=5)
        conn.row_factory = sqlite3.Row
        try:
            return [dict(r) for r in conn.execute(sql)]
        finally:
            conn.close()
    return _pg_query(database_url(db_file.parent, db_file.name), sql)


def _pg_query(url: str, sql: str) -> list[dict[str, Any]]:
    async def read() -> list[dict[str, Any]]:
        conn = await asyncpg.connect(url)
        try:
            return [dict(r) for r in await conn.fetch(sql)]
        finally:
            await conn.close()

    box: list[list[dict[str, Any]]] = []
    thread = threading.Thread(target=lambda: box.append(asyncio.run(read())))
    thread.start()
    thread.join()
    if not box:
        raise RuntimeError(f"could not read {url}")
    return box[0]


class HeldOpen:
    """``write`` run in a PostgreSQL transaction of its own that stays open (its rows
    written, not committed) until ``commit()``: another replica's commit still in flight.
    ``await held.written.wait()`` before counting on its rows being written."""

    def __init__(self, engine: Any, write: Any) -> None:
        self.written, self._release = asyncio.Event(), asyncio.Event()

        async def work(uow: Any) -> None:
            await write(uow)
            self.written.set()
            await self._release.wait()

        self._task = asyncio.create_task(engine.transact_apart(work))

    async def commit(self) -> None:
        self._release.set()
        await self._task

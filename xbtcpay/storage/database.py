"""The SQLite engine: one group-committing writer, one reader connection, WAL, migrations.

Every unit of work (``xbtcpay.core.persistence``) runs inside a savepoint of a shared
transaction: the writer drains whatever units are queued, runs each in its own savepoint
(one failing unit rolls back alone), then commits once. Callers are answered only after the
commit, so an acknowledged unit survives ``kill -9``; batching keeps fsyncs per second bounded.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite
import structlog

from xbtcpay.core.errors import StorageError
from xbtcpay.core.persistence import UnitOfWork, Work
from xbtcpay.storage.file_mode import prepare_private_file
from xbtcpay.storage.sync import SqliteUnit, drive

T = TypeVar("T")
log = structlog.get_logger("xbtcpay.storage")
MAX_BATCH = 512


def sqlite_path(url: str) -> str:
    """File path of a ``sqlite:///PATH`` URL (``:memory:`` allowed for tools)."""
    if not url.startswith("sqlite:///"):
        raise ValueError(f"not a sqlite URL: {url}")
    return url[len("sqlite:///") :]


class Database:
    """The SQLite database of one daemon (an ``Engine``)."""

    dialect = "sqlite"
    shared = False

    def __init__(self, path: str, *, synchronous: str = "FULL") -> None:
        self.path = path
        self.synchronous = synchronous
        self._writer: sqlite3.Connection | None = None
        self._writer_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="db-writer")
        self._reader: aiosqlite.Connection | None = None
        self._lookup: sqlite3.Connection | None = None
        self._queue: asyncio.Queue[tuple[Work[Any], asyncio.Future[Any]]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self.commits = 0

    async def open(self) -> None:
        if self.path != ":memory:":
            prepare_private_file(Path(self.path))
        loop = asyncio.get_running_loop()
        self._writer = await loop.run_in_executor(self._writer_thread, self._connect_sync)
        self._reader = await aiosqlite.connect(self.path, isolation_level=None)
        self._reader.row_factory = aiosqlite.Row
        await self._reader.execute("PRAGMA busy_timeout=5000")
        self._lookup = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._lookup.row_factory = sqlite3.Row
        self._lookup.execute("PRAGMA busy_timeout=200")
        self._task = asyncio.create_task(self._write_loop(), name="db-writer")

    def _connect_sync(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA synchronous={self.synchronous}")
        conn.execute("PRAGMA busy_timeout=5000")
        conn.execute("PRAGMA foreign_keys=ON")
        return conn

    async def close(self) -> None:
        if self._task is not None:
            await self._queue.join()
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._reader is not None:
            await self._reader.close()
        for conn in (self._writer, self._lookup):
            if conn is not None:
                conn.close()
        self._writer_thread.shutdown(wait=True)
        self._writer = self._reader = self._lookup = None

    async def transact(self, work: Work[T]) -> T:
        """Run ``work`` in the next committed batch; return its result after the commit."""
        if self._task is None or self._task.done():
            raise StorageError("database is closed")
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((work, future))  # unbounded: what ``await put`` would do
        return await future

    async def _write_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = [await self._queue.get()]
            while not self._queue.empty() and len(batch) < MAX_BATCH:
                batch.append(self._queue.get_nowait())
            try:
                ops = [op for op, _ in batch]
                try:
                    outcomes = await loop.run_in_executor(self._writer_thread, self._run_batch, ops)
                except StorageError as failure:
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(failure)
                    continue
                self.commits += 1
                for (ok, value), (_, future) in zip(outcomes, batch, strict=True):
                    if future.done():
                        continue
                    if ok:
                        future.set_result(value)
                    else:
                        future.set_exception(value)
            finally:
                for _ in batch:
                    self._queue.task_done()

    def _run_batch(self, ops: list[Work[Any]]) -> list[tuple[bool, Any]]:
        """On the writer thread: one transaction, one savepoint per unit, one commit."""
        conn = self._writer
        assert conn is not None
        shim = SqliteUnit(conn)
        try:
            conn.execute("BEGIN IMMEDIATE")
            outcomes = [_run_op(conn, shim, op) for op in ops]
            conn.execute("COMMIT")
        except (sqlite3.Error, OSError) as exc:
            log.error("storage.commit_failed", error=str(exc), batch=len(ops))
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            raise StorageError(_describe(exc)) from None
        return outcomes

    async def fetchall(self, sql: str, params: Iterable[Any] = ()) -> list[Any]:
        reader = self._require_reader()
        try:  # execute and fetch in one hop: no cursor (read snapshot) stays open across awaits
            return list(await reader.execute_fetchall(sql, tuple(params)))
        except sqlite3.Error as exc:
            raise StorageError(_describe(exc)) from exc

    async def fetchone(self, sql: str, params: Iterable[Any] = ()) -> aiosqlite.Row | None:
        reader = self._require_reader()
        try:  # one hop, as in fetchall: a cursor left open would pin the shared snapshot
            rows = list(await reader.execute_fetchall(sql, tuple(params)))
            return rows[0] if rows else None
        except sqlite3.Error as exc:
            raise StorageError(_describe(exc)) from exc

    def lookup(self, sql: str, params: Iterable[Any] = ()) -> sqlite3.Row | None:
        """A primary-key point read on the event loop's own thread.

        WAL readers never wait for the writer, and an indexed lookup takes microseconds, so
        this is cheaper than a hop to the reader thread (the status.json hot path).
        """
        if self._lookup is None:
            raise StorageError("database is closed")
        try:
            row: sqlite3.Row | None = self._lookup.execute(sql, tuple(params)).fetchone()
        except sqlite3.Error as exc:
            raise StorageError(_describe(exc)) from exc
        return row

    async def point(self, sql: str, params: Iterable[Any] = ()) -> sqlite3.Row | None:
        """``lookup`` behind the engine protocol."""
        return self.lookup(sql, params)

    def _require_reader(self) -> aiosqlite.Connection:
        if self._reader is None:
            raise StorageError("database is closed")
        return self._reader

    def json_rows(self, columns: Sequence[str], select: str) -> str:
        """``select``'s rows as one JSON array of arrays (``[]`` when it has none)."""
        return f"SELECT json_group_array(json_array({', '.join(columns)})) FROM ({select}) AS g"

    async def migrate(self) -> list[str]:
        """Apply pending migrations in order; return the names applied."""
        return await self.transact(apply_migrations)


def _run_op(conn: sqlite3.Connection, shim: SqliteUnit, op: Work[Any]) -> tuple[bool, Any]:
    """Run one unit in its own savepoint: its failure undoes it alone, unless the database
    itself failed (disk full, read-only, I/O), which fails the whole batch."""
    conn.execute("SAVEPOINT op")
    try:
        value = drive(op(shim))  # type: ignore[arg-type]
    except sqlite3.Error:
        raise
    except Exception as exc:  # noqa: BLE001 - the op's own error, handed to its caller
        conn.execute("ROLLBACK TO op")
        conn.execute("RELEASE op")
        return False, exc
    conn.execute("RELEASE op")
    return True, value


def _describe(exc: BaseException) -> str:
    text = str(exc).lower()
    if "full" in text:
        return "database or disk is full"
    if "readonly" in text or "read-only" in text:
        return "database is read-only"
    return "database error"


def migration_files() -> list[tuple[str, str]]:
    """(name, sql) of every migration shipped in xbtcpay/storage/migrations, in order."""
    folder = resources.files("xbtcpay.storage") / "migrations"
    files = sorted(f.name for f in folder.iterdir() if f.name.endswith(".sql"))
    return [(name, (folder / name).read_text()) for name in files]


async def apply_migrations(uow: UnitOfWork) -> list[str]:
    """Apply the shipped migrations not yet recorded, in order (one unit of work)."""
    await uow.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY, applied_at BIGINT)"
    )
    done = {row[0] for row in await uow.fetchall("SELECT name FROM schema_migrations")}
    applied = []
    for name, sql in migration_files():
        if name in done:
            continue
        for statement in _statements(sql):
            if statement.startswith(_POSTGRESQL_ONLY):
                if uow.dialect != "postgresql":
                    continue
                statement = statement.removeprefix(_POSTGRESQL_ONLY).strip()
            await uow.execute(translate_ddl(statement, uow.dialect))
        await uow.execute(
            "INSERT INTO schema_migrations (name, applied_at) VALUES (?, ?)",
            (name, int(time.time())),
        )
        applied.append(name)
    return applied


# A migration statement that starts with this runs on PostgreSQL only (what SQLite has no
# equivalent of, such as a default read from the transaction)
_POSTGRESQL_ONLY = "/*postgresql*/"


def translate_ddl(statement: str, dialect: str) -> str:
    """Migrations are written once, in SQLite's types; PostgreSQL gets 64-bit integers,
    identity keys and double precision for the same columns."""
    if dialect == "sqlite":
        return statement
    out = statement.replace("INTEGER PRIMARY KEY AUTOINCREMENT", "BIGSERIAL PRIMARY KEY")
    out = out.replace(" INTEGER", " BIGINT").replace(" REAL", " DOUBLE PRECISION")
    return out


def _statements(sql: str) -> list[str]:
    """Split a migration into statements (migrations hold no triggers or ';' in strings)."""
    lines = [line for line in sql.splitlines() if not line.strip().startswith("--")]
    return [stmt.strip() for stmt in "\n".join(lines).split(";") if stmt.strip()]

"""SQLite access: one group-committing writer, one reader connection, WAL, migrations.

Every write is a coroutine ``op(conn)`` run inside a savepoint of a shared transaction:
the writer drains whatever ops are queued, runs each in its own savepoint (one failing op
rolls back alone), then commits once. Callers are answered only after the commit, so an
acknowledged write survives ``kill -9``; batching keeps fsyncs per second bounded.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Awaitable, Callable, Iterable
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite
import structlog

from xbtcpay.errors import StorageError

T = TypeVar("T")
WriteOp = Callable[[aiosqlite.Connection], Awaitable[T]]
log = structlog.get_logger("xbtcpay.storage")
MAX_BATCH = 512


def sqlite_path(url: str) -> str:
    """File path of a ``sqlite:///PATH`` URL (``:memory:`` allowed for tools)."""
    if not url.startswith("sqlite:///"):
        raise ValueError(f"not a sqlite URL: {url}")
    return url[len("sqlite:///"):]


class Database:
    """The SQLite database of one daemon."""

    def __init__(self, path: str, *, synchronous: str = "FULL") -> None:
        self.path = path
        self.synchronous = synchronous
        self._writer_conn: aiosqlite.Connection | None = None
        self._reader: aiosqlite.Connection | None = None
        self._lookup: sqlite3.Connection | None = None
        self._queue: asyncio.Queue[tuple[WriteOp[Any], asyncio.Future[Any]]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self.commits = 0

    async def open(self) -> None:
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._writer_conn = await self._connect()
        self._reader = await self._connect()
        self._lookup = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._lookup.row_factory = sqlite3.Row
        self._lookup.execute("PRAGMA busy_timeout=200")
        self._task = asyncio.create_task(self._write_loop(), name="db-writer")

    async def _connect(self) -> aiosqlite.Connection:
        conn = await aiosqlite.connect(self.path, isolation_level=None)
        conn.row_factory = aiosqlite.Row
        await conn.execute("PRAGMA journal_mode=WAL")
        await conn.execute(f"PRAGMA synchronous={self.synchronous}")
        await conn.execute("PRAGMA busy_timeout=5000")
        await conn.execute("PRAGMA foreign_keys=ON")
        return conn

    async def close(self) -> None:
        if self._task is not None:
            await self._queue.join()
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
        for conn in (self._writer_conn, self._reader):
            if conn is not None:
                await conn.close()
        if self._lookup is not None:
            self._lookup.close()
        self._writer_conn = self._reader = self._lookup = None

    async def write(self, op: WriteOp[T]) -> T:
        """Run ``op`` in the next committed batch; return its result after the commit."""
        if self._task is None or self._task.done():
            raise StorageError("database is closed")
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        await self._queue.put((op, future))
        return await future

    async def _write_loop(self) -> None:
        assert self._writer_conn is not None
        conn = self._writer_conn
        while True:
            batch = [await self._queue.get()]
            while not self._queue.empty() and len(batch) < MAX_BATCH:
                batch.append(self._queue.get_nowait())
            try:
                await self._run_batch(conn, batch)
            finally:
                for _ in batch:
                    self._queue.task_done()

    async def _run_batch(
        self, conn: aiosqlite.Connection, batch: list[tuple[WriteOp[Any], asyncio.Future[Any]]]
    ) -> None:
        outcomes: list[tuple[bool, Any]] = []
        try:
            await conn.execute("BEGIN IMMEDIATE")
            for op, _ in batch:
                outcomes.append(await self._run_op(conn, op))
            await conn.execute("COMMIT")
            self.commits += 1
        except (sqlite3.Error, OSError) as exc:
            log.error("storage.commit_failed", error=str(exc), batch=len(batch))
            try:
                await conn.execute("ROLLBACK")
            except sqlite3.Error:
                pass
            failure = StorageError(_describe(exc))
            for _, future in batch:
                if not future.done():
                    future.set_exception(failure)
            return
        for (ok, value), (_, future) in zip(outcomes, batch):
            if future.done():
                continue
            if ok:
                future.set_result(value)
            else:
                future.set_exception(value)

    @staticmethod
    async def _run_op(conn: aiosqlite.Connection, op: WriteOp[Any]) -> tuple[bool, Any]:
        await conn.execute("SAVEPOINT op")
        try:
            value = await op(conn)
        except (sqlite3.OperationalError, sqlite3.DatabaseError) as exc:
            if isinstance(exc, sqlite3.IntegrityError):
                await conn.execute("ROLLBACK TO op")
                await conn.execute("RELEASE op")
                return False, exc
            raise  # disk full, read-only, I/O: the whole batch fails cleanly
        except BaseException as exc:  # the op's own error: undo just this op
            await conn.execute("ROLLBACK TO op")
            await conn.execute("RELEASE op")
            if isinstance(exc, asyncio.CancelledError):
                raise
            return False, exc
        await conn.execute("RELEASE op")
        return True, value

    async def fetchall(self, sql: str, params: Iterable[Any] = ()) -> list[aiosqlite.Row]:
        reader = self._require_reader()
        try:
            async with reader.execute(sql, tuple(params)) as cursor:
                return list(await cursor.fetchall())
        except sqlite3.Error as exc:
            raise StorageError(_describe(exc)) from exc

    async def fetchone(self, sql: str, params: Iterable[Any] = ()) -> aiosqlite.Row | None:
        reader = self._require_reader()
        try:
            async with reader.execute(sql, tuple(params)) as cursor:
                return await cursor.fetchone()
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

    def _require_reader(self) -> aiosqlite.Connection:
        if self._reader is None:
            raise StorageError("database is closed")
        return self._reader

    async def migrate(self) -> list[str]:
        """Apply pending migrations in order; return the names applied."""
        return await self.write(_apply_migrations)


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


async def _apply_migrations(conn: aiosqlite.Connection) -> list[str]:
    await conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY, applied_at INTEGER)"
    )
    async with conn.execute("SELECT name FROM schema_migrations") as cursor:
        done = {row[0] for row in await cursor.fetchall()}
    applied = []
    for name, sql in migration_files():
        if name in done:
            continue
        for statement in _statements(sql):
            await conn.execute(statement)
        await conn.execute(
            "INSERT INTO schema_migrations (name, applied_at) VALUES (?, strftime('%s','now'))",
            (name,),
        )
        applied.append(name)
    return applied


def _statements(sql: str) -> list[str]:
    """Split a migration into statements (migrations hold no triggers or ';' in strings)."""
    lines = [line for line in sql.splitlines() if not line.strip().startswith("--")]
    return [stmt.strip() for stmt in "\n".join(lines).split(";") if stmt.strip()]

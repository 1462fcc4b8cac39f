"""The PostgreSQL engine: a pool of asyncpg connections, one transaction per unit of work.

asyncpg rather than psycopg 3: it speaks the binary protocol with prepared statements cached
per connection (the hot inserts and point reads are parsed once), its pool and LISTEN
support are built in, and it has no C library dependency beyond its wheel. Durability is the
server's: ``synchronous_commit`` stays on, so ``transact`` returns after the commit is on
disk, and concurrent commits share WAL flushes (the server's own group commit).

Writes go through one group-committing writer connection (``pg_writer.py``), point reads
(``point``: one row by key, a status.json cache miss) through a few connections of their own
(``pg_reader.py``: no pool acquire, no reset round trip), other reads through the rest of the
pool; all of them together stay within ``pool_size``. SQL is written once with ``?`` placeholders (see
``xbtcpay.core.persistence``); it is rewritten to ``$1, $2, ...`` here. Driver errors never leave this module: constraint
violations become ``ConstraintViolation``, a lost or refused server ``StorageError``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, TypeVar

import asyncpg
import structlog

from xbtcpay.core.errors import ConstraintViolation, InvalidParams, StorageError
from xbtcpay.core.persistence import Work
from xbtcpay.storage.database import apply_migrations
from xbtcpay.storage.pg_reader import PointReader
from xbtcpay.storage.pg_writer import GroupCommitWriter

T = TypeVar("T")
log = structlog.get_logger("xbtcpay.storage")
_MIGRATION_LOCK = 0x7862_7463  # "xbtc": one replica migrates at a time
_APPLICATION = {"application_name": "xbtcpay"}


def point_connections(pool_size: int) -> int:
    """How many of ``pool_size`` connections serve point reads: half (five of the default
    ten; more connections answer more reads per turn of the event loop), none in a pool of
    fewer than four, which keeps its connections for the writer and the other reads."""
    return pool_size // 2 if pool_size >= 4 else 0


_UNAVAILABLE = (
    OSError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.CannotConnectNowError,
    asyncpg.AdminShutdownError,
    asyncpg.InternalClientError,
    TimeoutError,
    ConnectionError,
)


def placeholders(sql: str) -> str:
    """``?`` -> ``$n`` outside quoted text."""
    out: list[str] = []
    n, quote = 0, ""
    for ch in sql:
        if quote:
            quote = "" if ch == quote else quote
        elif ch in ("'", '"'):
            quote = ch
        elif ch == "?":
            n += 1
            out.append(f"${n}")
            continue
        out.append(ch)
    return "".join(out)


class _Sql:
    """Rewritten statements, cached (the repositories use a few dozen distinct ones)."""

    def __init__(self) -> None:
        self._cache: dict[str, str] = {}

    def __call__(self, sql: str) -> str:
        out = self._cache.get(sql)
        if out is None:
            out = self._cache[sql] = placeholders(sql)
        return out


def _rowcount(status: str) -> int:
    tail = status.rsplit(" ", 1)[-1]
    return int(tail) if tail.isdigit() else 0


def _translate(exc: BaseException) -> BaseException:
    if isinstance(exc, asyncpg.IntegrityConstraintViolationError):
        return ConstraintViolation(str(exc))
    if isinstance(exc, asyncpg.CharacterNotInRepertoireError):
        return InvalidParams("text must not contain NUL characters")
    if isinstance(exc, asyncpg.DataError):  # a value of the wrong type, refused client-side
        log.error("storage.bad_value", error=str(exc))
        return StorageError("database error")
    if isinstance(exc, _UNAVAILABLE):
        return StorageError("database unavailable")
    if isinstance(exc, asyncpg.DiskFullError):
        return StorageError("database or disk is full")
    if isinstance(exc, asyncpg.ReadOnlySQLTransactionError):
        return StorageError("database is read-only")
    if isinstance(exc, asyncpg.InternalClientError):
        return StorageError("database unavailable")
    return StorageError("database error")


class PgUnit:
    """One open transaction on one pooled connection, seen as a ``UnitOfWork``.

    ``failed`` records that a statement raised, even if the unit caught the error: after a
    failed statement PostgreSQL refuses everything until a rollback, so the writer must not
    count on that transaction (``pg_writer``)."""

    dialect = "postgresql"
    for_update = " FOR UPDATE"  # concurrent writers of a row queue up instead of failing

    def __init__(self, conn: Any, sql: _Sql) -> None:
        self._conn = conn
        self._sql = sql
        self.failed = False

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        try:
            return _rowcount(await self._conn.execute(self._sql(sql), *params))
        except BaseException as exc:
            raise self._failure(exc) from None

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        batch = [tuple(r) for r in rows]
        if not batch:
            return
        try:
            await self._conn.executemany(self._sql(sql), batch)
        except BaseException as exc:
            raise self._failure(exc) from None

    async def fetchone(self, sql: str, params: Sequence[Any] = ()) -> Any:
        try:
            return await self._conn.fetchrow(self._sql(sql), *params)
        except BaseException as exc:
            raise self._failure(exc) from None

    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        try:
            return list(await self._conn.fetch(self._sql(sql), *params))
        except BaseException as exc:
            raise self._failure(exc) from None

    def _failure(self, exc: BaseException) -> BaseException:
        self.failed = True
        if isinstance(exc, asyncpg.IntegrityConstraintViolationError):
            return ConstraintViolation(str(exc))
        return exc


class PostgresDatabase:
    """The PostgreSQL database shared by every replica (an ``Engine``)."""

    dialect = "postgresql"
    shared = True

    def __init__(self, url: str, *, password: str | None = None, pool_size: int = 10) -> None:
        self.url = url
        self._password = password
        self.pool_size = pool_size
        self._pool: Any = None
        self._sql = _Sql()
        self._writer: GroupCommitWriter | None = None
        self._reader: PointReader | None = None

    async def open(self) -> None:
        """Connect the pool; a wrong URL, password or database raises StorageError."""
        try:
            self._pool = await asyncpg.create_pool(
                dsn=self.url,
                password=self._password,
                min_size=1,
                max_size=self.pool_size - point_connections(self.pool_size),
                command_timeout=30,
                server_settings=_APPLICATION,
            )
        except (asyncpg.InvalidPasswordError, asyncpg.InvalidAuthorizationSpecificationError):
            raise StorageError("PostgreSQL refused the user or password") from None
        except asyncpg.InvalidCatalogNameError:
            raise StorageError("PostgreSQL has no such database") from None
        except (*_UNAVAILABLE, asyncpg.PostgresError, ValueError) as exc:
            raise StorageError(f"cannot connect to PostgreSQL: {_reason(exc)}") from None
        self._writer = GroupCommitWriter(
            self._pool, lambda conn: PgUnit(conn, self._sql), _translate, _UNAVAILABLE
        )
        if readers := point_connections(self.pool_size):
            self._reader = PointReader(self._connect, readers)

    def _connect(self) -> Any:
        return asyncpg.connect(
            dsn=self.url,
            password=self._password,
            command_timeout=30,
            server_settings=_APPLICATION,
        )

    async def close(self) -> None:
        if self._writer is not None:
            await self._writer.close()
            self._writer = None
        if self._reader is not None:
            await self._reader.close()
            self._reader = None
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    def _require_pool(self) -> Any:
        if self._pool is None:
            raise StorageError("database is closed")
        return self._pool

    async def transact(self, work: Work[T]) -> T:
        """Run ``work`` in the writer's next batch (one savepoint each, one commit)."""
        self._require_pool()
        assert self._writer is not None
        return await self._writer.submit(work)

    async def transact_apart(self, work: Work[T]) -> T:
        """Run ``work`` in a transaction of its own on a pooled connection, outside the
        writer's batches: for a short unit whose row locks must be held for one statement,
        not until a batch commits (reserving a block of derivation indexes)."""
        pool = self._require_pool()
        try:
            async with pool.acquire() as conn, conn.transaction():
                return await work(PgUnit(conn, self._sql))
        except (asyncpg.PostgresError, *_UNAVAILABLE) as exc:
            raise _translate(exc) from None

    @property
    def commits(self) -> int:
        return self._writer.commits if self._writer is not None else 0

    async def fetchone(self, sql: str, params: Iterable[Any] = ()) -> Any:
        rows = await self.fetchall(sql, params, limit_one=True)
        return rows[0] if rows else None

    async def fetchall(
        self, sql: str, params: Iterable[Any] = (), *, limit_one: bool = False
    ) -> list[Any]:
        pool = self._require_pool()
        try:
            if limit_one:
                row = await pool.fetchrow(self._sql(sql), *params)
                return [] if row is None else [row]
            return list(await pool.fetch(self._sql(sql), *params))
        except asyncpg.CharacterNotInRepertoireError:
            # PostgreSQL text never holds NUL, so a lookup by such a value matches nothing
            return []
        except (asyncpg.PostgresError, *_UNAVAILABLE) as exc:
            raise _translate(exc) from None

    async def point(self, sql: str, params: Iterable[Any] = ()) -> Any:
        """The one row ``sql`` reads by key, or None: on a point-read connection."""
        self._require_pool()
        if self._reader is None:
            return await self.fetchone(sql, params)
        try:
            return await self._reader.fetchrow(self._sql(sql), tuple(params))
        except asyncpg.CharacterNotInRepertoireError:
            return None  # as in ``fetchall``: no text holds NUL, so nothing matches
        except (asyncpg.PostgresError, *_UNAVAILABLE) as exc:
            raise _translate(exc) from None

    @property
    def point_lanes(self) -> int:
        """How many point reads can be in flight at once (0: point reads use the pool)."""
        return point_connections(self.pool_size) if self._reader is not None else 0

    async def point_rows(self, sql: str, params: Iterable[Any] = ()) -> list[Any]:
        """Every row of ``sql``, a read by several keys, on a point-read connection."""
        self._require_pool()
        if self._reader is None:
            return await self.fetchall(sql, params)
        try:
            return await self._reader.fetch(self._sql(sql), tuple(params))
        except (asyncpg.PostgresError, *_UNAVAILABLE) as exc:
            raise _translate(exc) from None

    def json_rows(self, columns: Sequence[str], select: str) -> str:
        """``select``'s rows as one JSON array of arrays (``[]`` when it has none)."""
        return (
            f"SELECT COALESCE(json_agg(json_build_array({', '.join(columns)})), '[]')"
            f" FROM ({select}) AS g"
        )

    async def migrate(self) -> list[str]:
        """Apply pending migrations; concurrent replicas wait on one advisory lock."""

        async def work(uow: PgUnit) -> list[str]:
            await uow.execute("SELECT pg_advisory_xact_lock(?)", (_MIGRATION_LOCK,))
            return await apply_migrations(uow)

        return await self.transact(work)  # type: ignore[arg-type]


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__

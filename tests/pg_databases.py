"""Test databases on the session's PostgreSQL server, handed out migrated and emptied.

Creating, migrating and dropping a database costs about half a second of server work per
test, more than most tests themselves. So a database a test is done with is emptied and kept
for the next test instead, but only when nothing but rows changed: its schema (tables,
columns, defaults, indexes, constraints, triggers, functions, schemas, grants, applied
migrations and database settings) must still be exactly that of a database the product's own
migrations just built. Any other database is dropped, as before. Emptying deletes every row
but the migration records (a test's few rows: milliseconds, where TRUNCATE rebuilds every
file) and restarts every sequence, so a reused database is indistinguishable from a new one
to the product: same schema, no rows, ids from 1.

Everything runs on one superuser connection in its own thread and event loop, so the sync
fixtures can use it from any test, async or not.
"""

from __future__ import annotations

import asyncio
import itertools
import secrets
import threading
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import asyncpg

from xbtcpay.storage.pg_server import SUPERUSER
from xbtcpay.storage.postgres import PostgresDatabase

T = TypeVar("T")

# What a database's schema is made of; equal texts mean equal schemas (rows aside).
SCHEMA_SIGNATURE = """
SELECT md5(string_agg(x, E'\\n' ORDER BY x)) FROM (
  SELECT 'rel ' || c.relname || ' ' || c.relkind::text || ' ' || coalesce(c.relacl::text, '')
    || ' ' || coalesce((
      SELECT string_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod) || ' '
        || a.attnotnull::text || ' ' || coalesce(pg_get_expr(d.adbin, d.adrelid), ''),
        ';' ORDER BY a.attnum)
      FROM pg_attribute a
      LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
      WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped), '') AS x
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
  UNION ALL SELECT 'index ' || indexdef FROM pg_indexes WHERE schemaname <> 'pg_catalog'
  UNION ALL SELECT 'constraint ' || conname || ' ' || pg_get_constraintdef(oid)
    FROM pg_constraint WHERE connamespace = 'public'::regnamespace
  UNION ALL SELECT 'trigger ' || tgname || ' ' || tgenabled::text
    FROM pg_trigger WHERE NOT tgisinternal
  UNION ALL SELECT 'function ' || p.oid::regprocedure::text
    FROM pg_proc p WHERE pronamespace = 'public'::regnamespace
  UNION ALL SELECT 'schema ' || nspname || ' ' || coalesce(nspacl::text, '') FROM pg_namespace
  UNION ALL SELECT 'migration ' || name FROM schema_migrations
  UNION ALL SELECT 'setting ' || coalesce(array_to_string(setconfig, ','), '')
    FROM pg_db_role_setting
    WHERE setdatabase = (SELECT oid FROM pg_database WHERE datname = current_database())
  UNION ALL SELECT 'prepared ' || gid FROM pg_prepared_xacts WHERE database = current_database()
) AS parts
"""


class DatabasePool:
    """Databases of one PostgreSQL server: ``take(name)`` before a test, ``give_back(name)``
    after it."""

    def __init__(self, port: str) -> None:
        self.port = port
        self._loop = asyncio.new_event_loop()
        threading.Thread(target=self._loop.run_forever, name="pg-databases", daemon=True).start()
        self._admin: Any = None
        self._clean: list[str] = []  # emptied, migrated, unused
        self._reference: str | None = None  # the schema signature of a freshly migrated one
        self._tables: list[str] = []
        self._names = itertools.count(1)
        self._prefix = f"spare_{secrets.token_hex(3)}_"  # pools on one server never collide
        self.reused = 0

    def url(self, name: str) -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{name}"

    def _run(self, work: Callable[[], Awaitable[T]]) -> T:
        async def call() -> T:
            return await work()

        return asyncio.run_coroutine_threadsafe(call(), self._loop).result(timeout=120)

    async def _execute(self, sql: str, *args: Any) -> Any:
        if self._admin is None or self._admin.is_closed():
            self._admin = await asyncpg.connect(self.url("postgres"))
        return await self._admin.fetch(sql, *args)

    def take(self, name: str) -> None:
        """Database ``name`` exists and has no rows: an emptied one renamed, or a new one."""
        self._run(lambda: self._take(name))

    async def _take(self, name: str) -> None:
        if self._clean:
            await self._execute(f'ALTER DATABASE "{self._clean.pop()}" RENAME TO "{name}"')
            self.reused += 1
        else:
            await self._execute(f'CREATE DATABASE "{name}"')

    def close(self) -> None:
        """Drop the spare databases (a pool that ends before its server)."""

        async def drop() -> None:
            while self._clean:
                await self._execute(f'DROP DATABASE "{self._clean.pop()}" WITH (FORCE)')
            if self._admin is not None:
                await self._admin.close()

        self._run(drop)
        self._loop.call_soon_threadsafe(self._loop.stop)

    def give_back(self, name: str) -> None:
        """The test using ``name`` ended: keep it emptied for the next test, or drop it."""
        self._run(lambda: self._give_back(name))

    async def _give_back(self, name: str) -> None:
        await self._disconnect_everyone(name)
        if await self._empty(name):
            spare = f"{self._prefix}{next(self._names)}"
            try:
                await self._execute(f'ALTER DATABASE "{name}" RENAME TO "{spare}"')
            except asyncpg.ObjectInUseError:
                pass  # a client connected again meanwhile: drop it below
            else:
                self._clean.append(spare)
                return
        await self._execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    async def _disconnect_everyone(self, name: str) -> None:
        for _ in range(50):
            rows = await self._execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = $1 AND pid <> pg_backend_pid()",
                name,
            )
            if not rows:
                return
            await asyncio.sleep(0.02)

    async def _empty(self, name: str) -> bool:
        """Delete every row of ``name`` if its schema is exactly the migrated one."""
        if self._reference is None:
            await self._learn_reference()
        try:
            conn = await asyncpg.connect(self.url(name))
        except (asyncpg.PostgresError, OSError):
            return False
        try:
            if await conn.fetchval(SCHEMA_SIGNATURE) != self._reference:
                return False
            async with conn.transaction():
                # no foreign key or trigger may refuse or reorder the deletes
                await conn.execute("SET LOCAL session_replication_role = replica")
                for table in self._tables:
                    await conn.execute(f'DELETE FROM "{table}"')
                await conn.execute(
                    "SELECT setval(format('%I.%I', schemaname, sequencename), start_value, false)"
                    " FROM pg_sequences WHERE schemaname = 'public'"
                )
            return True
        except asyncpg.PostgresError:
            return False  # e.g. a table a test left locked or broken: not worth keeping
        finally:
            await conn.close()

    async def _learn_reference(self) -> None:
        """Migrate a new database with the product's migrations; its schema is the one an
        emptied database must have. It becomes the first spare."""
        name = f"{self._prefix}{next(self._names)}"
        await self._execute(f'CREATE DATABASE "{name}"')
        db = PostgresDatabase(self.url(name))
        await db.open()
        try:
            await db.migrate()
        finally:
            await db.close()
        conn = await asyncpg.connect(self.url(name))
        try:
            self._reference = await conn.fetchval(SCHEMA_SIGNATURE)
            self._tables = [
                r["tablename"]
                for r in await conn.fetch(
                    "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
                    " AND tablename <> 'schema_migrations' ORDER BY tablename"
                )
            ]
        finally:
            await conn.close()
        self._clean.append(name)

"""Pick and open the storage engine a database URL names (migrated, ready for use)."""

from __future__ import annotations

from xbtcpay.core.persistence import Engine
from xbtcpay.storage.database import Database, sqlite_path


async def open_engine(
    url: str,
    *,
    password: str | None = None,
    pool_size: int = 10,
    synchronous: str = "FULL",
    migrate: bool = True,
) -> Engine:
    """``sqlite:///PATH`` or ``postgresql://user@host:port/dbname``; migrations applied."""
    engine: Engine
    if url.startswith(("postgresql://", "postgres://")):
        from xbtcpay.storage.postgres import PostgresDatabase

        pg = PostgresDatabase(url, password=password, pool_size=pool_size)
        await pg.open()
        engine = pg
    else:
        db = Database(sqlite_path(url), synchronous=synchronous)
        await db.open()
        engine = db
    if migrate:
        try:
            await engine.migrate()
        except BaseException:
            await engine.close()
            raise
    return engine

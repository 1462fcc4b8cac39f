"""``python -m bench.bare PORT BODY_FILE [MODE CONFIG]``: baseline servers for status.json.

``constant`` (the baseline of the target): a bare aiohttp application with one route,
``GET /{id}/status.json``, answering the constant bytes of BODY_FILE as application/json:
the ceiling of aiohttp on this machine.

The other modes form a ladder that shows where the daemon's time goes, each adding one layer
of the daemon's own code (no middlewares in any of them):

- ``sqlite``: + the primary-key lookup on the daemon's database, row encoded with json;
- ``domain``: + ``row_to_payment`` and ``status_document`` exactly as the daemon runs them.

``postgresql DSN``: the constant handler plus the same primary-key lookup on PostgreSQL through
an asyncpg pool of the daemon's default size (10): one round trip per request, the limit of a
status.json cache miss on PostgreSQL as the issue defines it. Through the pool, each read
also pays ``acquire``/``release`` and, on release, the pool's reset query (a second round
trip); ``postgresql-direct DSN [N]`` reads on two (N) connections of its own instead (no reset):
one round trip per request, the honest limit, and what the daemon's point reads do.
"""

from __future__ import annotations

import json
import sqlite3
import sys
from pathlib import Path
from typing import Any

from aiohttp import web

SQL = "SELECT * FROM payments WHERE id = ?"
_FIELDS = ("address", "amount", "seen_at", "paid_at", "tx_hash", "status", "asset", "method")


def bare_app(body: bytes) -> web.Application:
    """The one-route application answering ``body``."""

    async def handler(request: web.Request) -> web.Response:
        return web.Response(body=body, content_type="application/json")

    app = web.Application()
    app.router.add_get("/{id}/status.json", handler)
    return app


def _connect(db: str) -> sqlite3.Connection:
    conn = sqlite3.connect(db, isolation_level=None, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    return conn


def _row_answer(row: Any) -> web.Response:
    """The point-read servers' answer: the row's status fields, or 404."""
    if row is None:
        return web.Response(status=404)
    text = json.dumps({k: row[k] for k in _FIELDS}, separators=(",", ":"))
    return web.Response(text=text, content_type="application/json")


def sqlite_app(db: str) -> web.Application:
    """Constant handler plus the PK lookup (row fields dumped as JSON)."""
    conn = _connect(db)

    async def handler(request: web.Request) -> web.Response:
        row = conn.execute(SQL, (request.match_info["id"],)).fetchone()
        return _row_answer(row)

    app = web.Application()
    app.router.add_get("/{id}/status.json", handler)
    return app


def domain_app(db: str, config_path: str) -> web.Application:
    """The lookup plus the daemon's row decoding and status document, no middlewares."""
    from xbtcpay.app.config import load_config
    from xbtcpay.chain.handler import ChainHandler
    from xbtcpay.core.handlers import PaymentHandlers
    from xbtcpay.core.methods import CoreMethods
    from xbtcpay.storage.payments import row_to_payment
    from xbtcpay.web.keys import CONFIG, CORE
    from xbtcpay.web.status_cache import status_document

    conn = _connect(db)
    config = load_config(Path(config_path))
    app = web.Application()
    app[CONFIG] = config
    handlers = PaymentHandlers([ChainHandler(config)])
    app[CORE] = CoreMethods(config, None, handlers)  # type: ignore[arg-type]  # payment_uri only

    async def handler(request: web.Request) -> web.Response:
        row = conn.execute(SQL, (request.match_info["id"],)).fetchone()
        if row is None:
            return web.Response(status=404)
        doc: dict[str, Any] = status_document(
            request.app[CONFIG], request.app[CORE], row_to_payment(row), None
        )
        return web.Response(
            text=json.dumps(doc, separators=(",", ":")),
            content_type="application/json",
            headers={"Cache-Control": "no-store"},
        )

    app.router.add_get("/{id}/status.json", handler)
    return app


def postgresql_app(dsn: str) -> web.Application:
    """Constant handler plus the PK lookup on PostgreSQL (asyncpg pool, row encoded with json)."""
    import asyncpg

    app = web.Application()
    sql = SQL.replace("?", "$1")

    async def pool_ctx(app: web.Application) -> Any:
        app["pool"] = await asyncpg.create_pool(dsn, min_size=1, max_size=10)
        yield
        await app["pool"].close()

    async def handler(request: web.Request) -> web.Response:
        row = await request.app["pool"].fetchrow(sql, request.match_info["id"])
        return _row_answer(row)

    app.cleanup_ctx.append(pool_ctx)
    app.router.add_get("/{id}/status.json", handler)
    return app


def postgresql_direct_app(dsn: str, connections: int = 2) -> web.Application:
    """The PK lookup on ``connections`` asyncpg connections kept outside a pool."""
    import asyncio

    import asyncpg

    app = web.Application()
    sql = SQL.replace("?", "$1")
    idle: list[Any] = []
    slots = asyncio.Semaphore(connections)

    async def conns_ctx(app: web.Application) -> Any:
        idle.extend([await asyncpg.connect(dsn) for _ in range(connections)])
        yield
        for conn in idle:
            await conn.close()

    async def handler(request: web.Request) -> web.Response:
        async with slots:
            conn = idle.pop()
            try:
                row = await conn.fetchrow(sql, request.match_info["id"])
            finally:
                idle.append(conn)
        return _row_answer(row)

    app.cleanup_ctx.append(conns_ctx)
    app.router.add_get("/{id}/status.json", handler)
    return app


def main() -> None:
    port, body_file = int(sys.argv[1]), Path(sys.argv[2])
    mode = sys.argv[3] if len(sys.argv) > 3 else "constant"
    if mode == "constant":
        app = bare_app(body_file.read_bytes())
    elif mode == "sqlite":
        app = sqlite_app(sys.argv[4])
    elif mode == "postgresql":
        app = postgresql_app(sys.argv[4])
    elif mode == "postgresql-direct":
        app = postgresql_direct_app(sys.argv[4], int(sys.argv[5]) if len(sys.argv) > 5 else 2)
    else:
        app = domain_app(sys.argv[4], sys.argv[5])
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)


if __name__ == "__main__":
    main()

"""``python -m bench.bare PORT BODY_FILE``: the baseline server for status.json.

A bare aiohttp application with one route, ``GET /{id}/status.json``, answering the constant
bytes of BODY_FILE as application/json: the ceiling of aiohttp on this machine, with the
daemon's routing, validation, SQLite lookup and encoding taken out.
"""

from __future__ import annotations

import sys
from pathlib import Path

from aiohttp import web


def bare_app(body: bytes) -> web.Application:
    """The one-route application answering ``body``."""
    async def handler(request: web.Request) -> web.Response:
        return web.Response(body=body, content_type="application/json")

    app = web.Application()
    app.router.add_get("/{id}/status.json", handler)
    return app


def main() -> None:
    port, body_file = int(sys.argv[1]), Path(sys.argv[2])
    web.run_app(bare_app(body_file.read_bytes()), host="127.0.0.1", port=port,
                access_log=None, print=None)


if __name__ == "__main__":
    main()

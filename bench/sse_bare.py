"""``python -m bench.sse_bare PORT``: the baseline for the SSE benchmark.

The least an aiohttp process can do for the same job: hold every ``GET /events`` stream,
send each a constant first event, and on ``POST /fire`` write one constant event to all of
them. No payments, no database, no rendering.
"""

from __future__ import annotations

import asyncio
import sys

from aiohttp import web

FIRST = b'event: status\ndata: {"status":"new"}\n\n'
CHANGE = b'event: status\ndata: {"status":"canceled"}\n\n'


def build() -> web.Application:
    wakers: set[asyncio.Event] = set()

    async def events(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await response.write(FIRST)
        wake = asyncio.Event()
        wakers.add(wake)
        try:
            await wake.wait()
            await response.write(CHANGE)
            await asyncio.sleep(3600)
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            wakers.discard(wake)
        return response

    async def fire(request: web.Request) -> web.Response:
        for wake in list(wakers):
            wake.set()
        return web.json_response({"woken": len(wakers)})

    app = web.Application()
    app.router.add_get("/events", events)
    app.router.add_post("/fire", fire)
    return app


if __name__ == "__main__":
    web.run_app(
        build(),
        host="127.0.0.1",
        port=int(sys.argv[1]),
        access_log=None,
        print=None,
        handler_cancellation=True,
    )

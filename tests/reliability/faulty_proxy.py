"""A JSON-RPC proxy on loopback that injects node faults at a seeded rate.

Put it between the daemon and anvil (``chain.rpc_urls: [proxy.url]``). Each request is
forwarded unless the seeded coin says to break it, in one of these ways:

    timeout     hold the request for ``hang`` seconds (longer than the client's timeout)
    http429     429 Too Many Requests with ``Retry-After: 0``
    http500     500 Internal Server Error
    truncated   the node's real answer, cut in half
    malformed   200 with a body that is not JSON (an HTML error page)
    wrong_id    a well-formed JSON-RPC answer to some other request id
    reset       the connection is closed without an answer

``stop()``/``start()`` make the port refuse connections (the node is unreachable); when the
upstream node itself is down the proxy answers 502 like a gateway in front of it.
Which requests break is seeded (``seed``); the kinds come in shuffled rounds, so every kind
occurs. ``on_method`` runs a callback once, the first time a request calls that method
(e.g. kill the node in the middle of a scan, right when it asks for the logs of a range).
Every fault is counted in ``injected``.
"""

from __future__ import annotations

import asyncio
import collections
import json
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

from tests.harness import free_port
from tests.loopback import LoopbackServer

FAULTS = ("timeout", "http429", "http500", "truncated", "malformed", "wrong_id", "reset")


@dataclass
class FaultyProxy(LoopbackServer):
    handler_cancellation = True
    upstream_timeout = 10.0

    """Forwards JSON-RPC to ``upstream``, breaking a ``rate`` share of requests (seeded)."""

    upstream: str
    seed: int
    rate: float = 0.0
    faults: tuple[str, ...] = FAULTS
    hang: float = 2.0
    port: int = field(default_factory=free_port)
    injected: collections.Counter[str] = field(default_factory=collections.Counter)
    methods: collections.Counter[str] = field(default_factory=collections.Counter)
    forwarded: int = 0
    upstream_down: int = 0
    _rng: random.Random = field(init=False)
    _round: list[str] = field(default_factory=list)
    _triggers: dict[str, Callable[[], Awaitable[None]]] = field(default_factory=dict)
    _runner: web.AppRunner | None = None
    _session: aiohttp.ClientSession | None = None

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def on_method(self, method: str, callback: Callable[[], Awaitable[None]]) -> None:
        """Run ``callback`` once, before forwarding the next request that calls ``method``."""
        self._triggers[method] = callback

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        names = _methods(raw)
        self.methods.update(names)
        for name in names:
            trigger = self._triggers.pop(name, None)
            if trigger is not None:
                await trigger()
        fault = self._pick()
        if fault is not None:
            self.injected[fault] += 1
            return await self._break(request, fault, raw)
        answer = await self._forward(raw)
        if answer is None:
            return web.Response(status=502, text="Bad Gateway: upstream node unreachable")
        return web.Response(body=answer[1], status=answer[0], content_type="application/json")

    def _pick(self) -> str | None:
        """Whether to break this request is a coin flip; which fault, a shuffled round, so
        every kind is injected once in every ``len(faults)`` faults."""
        if self.rate <= 0 or self._rng.random() >= self.rate:
            return None
        if not self._round:
            self._round = list(self.faults)
            self._rng.shuffle(self._round)
        return self._round.pop()

    async def _forward(self, raw: bytes) -> tuple[int, bytes] | None:
        assert self._session is not None
        try:
            async with self._session.post(
                self.upstream, data=raw, headers={"Content-Type": "application/json"}
            ) as resp:
                body = await resp.read()
                self.forwarded += 1
                return resp.status, body
        except (aiohttp.ClientError, OSError):
            self.upstream_down += 1
            return None

    async def _break(self, request: web.Request, fault: str, raw: bytes) -> web.StreamResponse:
        if fault == "timeout":
            await asyncio.sleep(self.hang)
            return web.Response(status=504)
        if fault == "http429":
            return web.Response(status=429, headers={"Retry-After": "0"}, text="slow down")
        if fault == "http500":
            return web.Response(status=500, text="internal error")
        if fault == "malformed":
            return web.Response(
                status=200,
                content_type="text/html",
                text="<html><body>upstream error</body></html>",
            )
        if fault == "wrong_id":
            return web.json_response({"jsonrpc": "2.0", "id": 987654321, "result": "0x1"})
        if fault == "reset":
            if request.transport is not None:
                request.transport.abort()
            raise asyncio.CancelledError  # nothing more to write on a closed connection
        answer = await self._forward(raw)  # truncated: a real answer, cut short
        if answer is None:
            return web.Response(status=502)
        return web.Response(
            body=answer[1][: len(answer[1]) // 2], status=answer[0], content_type="application/json"
        )


def _methods(raw: bytes) -> list[str]:
    try:
        payload: Any = json.loads(raw)
    except ValueError:
        return ["?"]
    items = payload if isinstance(payload, list) else [payload]
    return [str(i.get("method", "?")) for i in items if isinstance(i, dict)]

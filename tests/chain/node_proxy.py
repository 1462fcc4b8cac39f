"""A JSON-RPC proxy on loopback in front of anvil: can go away, come back, and cap log ranges."""

from __future__ import annotations

import collections
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

from tests.harness import free_port
from tests.loopback import LoopbackServer


@dataclass
class NodeProxy(LoopbackServer):
    """Forwards every request to ``upstream``; ``stop()`` refuses connections until ``start()``.

    With ``max_log_range`` set, eth_getLogs over more blocks is refused the way public nodes
    refuse it (-32005), so the watcher has to shrink its range. ``failing_logs(n)`` true for
    the n-th eth_getLogs request (from 1) answers that request with HTTP 500.
    """

    upstream: str
    max_log_range: int | None = None
    port: int = field(default_factory=free_port)
    calls: collections.Counter[str] = field(default_factory=collections.Counter)
    refused_ranges: int = 0
    failing_logs: Callable[[int], bool] | None = None
    _runner: web.AppRunner | None = None
    _session: aiohttp.ClientSession | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _handle(self, request: web.Request) -> web.Response:
        raw = await request.read()
        payload = json.loads(raw)
        for item in payload if isinstance(payload, list) else [payload]:
            self.calls[item.get("method", "?")] += 1
        if self._fails(payload):
            return web.Response(status=500, text="injected failure")
        refusal = self._refusal(payload)
        if refusal is not None:
            return web.json_response(refusal)
        assert self._session is not None
        async with self._session.post(
            self.upstream, data=raw, headers={"Content-Type": "application/json"}
        ) as resp:
            return web.Response(
                body=await resp.read(), status=resp.status, content_type="application/json"
            )

    def _fails(self, payload: Any) -> bool:
        if self.failing_logs is None or not isinstance(payload, dict):
            return False
        return payload.get("method") == "eth_getLogs" and self.failing_logs(
            self.calls["eth_getLogs"]
        )

    def _refusal(self, payload: Any) -> dict[str, Any] | None:
        if self.max_log_range is None or not isinstance(payload, dict):
            return None
        if payload.get("method") != "eth_getLogs":
            return None
        query = payload["params"][0]
        span = int(query["toBlock"], 16) - int(query["fromBlock"], 16) + 1
        if span <= self.max_log_range:
            return None
        self.refused_ranges += 1
        return {
            "jsonrpc": "2.0",
            "id": payload["id"],
            "error": {
                "code": -32005,
                "message": f"query exceeds max block range {self.max_log_range}",
            },
        }

"""Loopback fakes of the public ticker APIs, answering their published shapes.

- Coinbase: ``GET /v2/prices/ETH-USD/spot`` -> ``{"data": {"amount": "2000.12", "base":
  "ETH", "currency": "USD"}}``
- Kraken: ``GET /0/public/Ticker?pair=XETHZUSD`` -> ``{"error": [], "result": {"XETHZUSD":
  {"a": [...], "b": [...], "c": ["2000.1", "0.01"], ...}}}``
- CoinGecko: ``GET /api/v3/simple/price?ids=ethereum&vs_currencies=usd`` ->
  ``{"ethereum": {"usd": 2000.12, "last_updated_at": 1700000000}}``, the price a JSON
  number (written from its text here, so it reaches the client digit for digit).

``prices`` maps ``(SYMBOL_OR_ID, CURRENCY)`` to the price text; ``broken`` makes the fake
answer something unusable (``"500"``, ``"html"``, ``"huge"``) instead.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field

from aiohttp import web

from tests.harness import free_port


@dataclass
class FakeExchange:
    kind: str  # coinbase | kraken | coingecko
    prices: dict[tuple[str, str], str] = field(default_factory=dict)
    broken: str | None = None
    updated_at: int | None = None  # coingecko's last_updated_at (default: now)
    requests: list[str] = field(default_factory=list)
    port: int = field(default_factory=free_port)
    _runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def __aenter__(self) -> FakeExchange:
        app = web.Application()
        app.router.add_get("/v2/prices/{pair}/spot", self._coinbase)
        app.router.add_get("/0/public/Ticker", self._kraken)
        app.router.add_get("/api/v3/simple/price", self._coingecko)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._runner is not None
        await self._runner.cleanup()

    def _broken(self) -> web.Response | None:
        if self.broken == "500":
            return web.Response(status=500, text="upstream down")
        if self.broken == "html":
            return web.Response(text="<html>maintenance</html>", content_type="text/html")
        if self.broken == "huge":
            return web.Response(text='{"x": "' + "9" * 400_000 + '"}')
        return None

    async def _coinbase(self, request: web.Request) -> web.Response:
        self.requests.append(request.path_qs)
        broken = self._broken()
        if broken is not None:
            return broken
        base, _, currency = request.match_info["pair"].partition("-")
        price = self.prices.get((base, currency))
        if price is None or self.kind != "coinbase":
            body = {"errors": [{"id": "not_found", "message": "Invalid currency"}]}
            return web.json_response(body, status=404)
        data = {"amount": price, "base": base, "currency": currency}
        return web.json_response({"data": data})

    async def _kraken(self, request: web.Request) -> web.Response:
        self.requests.append(request.path_qs)
        broken = self._broken()
        if broken is not None:
            return broken
        name = request.query.get("pair", "")
        price = next((p for (n, _), p in self.prices.items() if n == name), None)
        if price is None or self.kind != "kraken":
            return web.json_response({"error": ["EQuery:Unknown asset pair"]})
        ticker = {"a": [price, "1", "1.000"], "b": [price, "1", "1.000"], "c": [price, "0.01"]}
        return web.json_response({"error": [], "result": {name: ticker}})

    async def _coingecko(self, request: web.Request) -> web.Response:
        self.requests.append(request.path_qs)
        broken = self._broken()
        if broken is not None:
            return broken
        coin = request.query.get("ids", "")
        vs = request.query.get("vs_currencies", "")
        price = self.prices.get((coin, vs.upper()))
        if price is None or self.kind != "coingecko":
            return web.json_response({})
        updated = self.updated_at if self.updated_at is not None else int(time.time())
        text = f'{{"{coin}": {{"{vs}": {price}, "last_updated_at": {updated}}}}}'
        json.loads(text)  # the fake itself must answer valid JSON
        return web.Response(text=text, content_type="application/json")

"""The public ticker APIs of Coinbase, Kraken and CoinGecko, in their published formats.

Each answer is read with ``json.loads(parse_float=Decimal)``: a price such as CoinGecko's
``2000.12`` (a JSON number) becomes ``Decimal("2000.12")`` from its text, never a float.
The base ``url`` is configurable, so production reads the real hosts and the tests read
loopback fakes that answer the same shapes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import quote

import aiohttp

from xbtcpay.rates.observation import Observation, SourceFailed
from xbtcpay.rates.settings import Pair, SourceConfig

MAX_BODY = 256 * 1024  # a ticker answer is a few hundred bytes


class TickerSource:
    """Shared by the three exchanges: one GET per pair, a size cap, a timeout."""

    def __init__(
        self, config: SourceConfig, session: aiohttp.ClientSession, symbols: Mapping[str, str]
    ) -> None:
        self.name = config.name
        self.max_age = config.max_age
        self.config = config
        self.session = session
        self.symbols = symbols  # asset -> ticker symbol (the asset's `symbol`, e.g. ETH)

    def serves(self, pair: Pair) -> bool:
        return pair.asset in self.symbols

    def symbol(self, asset: str) -> str:
        return self.config.symbols.get(asset) or self.symbols[asset]

    async def fetch(self, pair: Pair, now: float) -> Observation:
        raise NotImplementedError

    async def get(self, path: str) -> Any:
        """GET ``url + path``; the parsed JSON with every number as a Decimal."""
        timeout = aiohttp.ClientTimeout(total=self.config.timeout)
        try:
            async with self.session.get(
                self.config.url + path, timeout=timeout, allow_redirects=False
            ) as resp:
                status = resp.status
                body = bytearray()
                async for chunk in resp.content.iter_chunked(16384):
                    body += chunk
                    if len(body) > MAX_BODY:
                        raise SourceFailed("answer larger than 256 KiB")
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise SourceFailed(f"{type(exc).__name__}: {exc}") from None
        if status != 200:
            raise SourceFailed(f"HTTP {status}")
        try:
            return json.loads(body, parse_float=Decimal, parse_int=Decimal)
        except ValueError:
            raise SourceFailed("answer is not JSON") from None


class CoinbaseSource(TickerSource):
    """``GET /v2/prices/ETH-USD/spot`` -> ``{"data": {"amount": "2000.12", ...}}``."""

    def serves(self, pair: Pair) -> bool:
        return pair.asset in self.config.symbols or pair.asset in self.symbols

    async def fetch(self, pair: Pair, now: float) -> Observation:
        base = self.symbol(pair.asset)
        body = await self.get(f"/v2/prices/{quote(base)}-{quote(pair.currency)}/spot")
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, dict):
            raise SourceFailed("no data object")
        if data.get("base") not in (None, base) or data.get("currency") not in (
            None,
            pair.currency,
        ):
            raise SourceFailed(f"answered {data.get('base')}-{data.get('currency')}")
        return Observation(self.name, pair, positive(data.get("amount")), now)


class KrakenSource(TickerSource):
    """``GET /0/public/Ticker?pair=XETHZUSD`` -> ``{"error": [], "result": {"XETHZUSD":
    {"c": ["2000.1", "0.01"], ...}}}``; ``c`` is the last trade."""

    def serves(self, pair: Pair) -> bool:
        return pair in self.config.kraken_pairs or (
            not self.config.kraken_pairs and pair.asset in self.symbols
        )

    async def fetch(self, pair: Pair, now: float) -> Observation:
        name = self.config.kraken_pairs.get(pair) or self.symbol(pair.asset) + pair.currency
        body = await self.get(f"/0/public/Ticker?pair={quote(name)}")
        if not isinstance(body, dict) or body.get("error"):
            errors = body.get("error") if isinstance(body, dict) else None
            raise SourceFailed(f"error {errors!r}")
        result = body.get("result")
        if not isinstance(result, dict) or len(result) != 1:
            raise SourceFailed("expected exactly one pair in result")
        (ticker,) = result.values()
        last = ticker.get("c") if isinstance(ticker, dict) else None
        if not isinstance(last, list) or not last:
            raise SourceFailed("no last trade (c)")
        return Observation(self.name, pair, positive(last[0]), now)


class CoinGeckoSource(TickerSource):
    """``GET /api/v3/simple/price?ids=ethereum&vs_currencies=usd`` -> ``{"ethereum":
    {"usd": 2000.12, "last_updated_at": 1700000000}}``."""

    def serves(self, pair: Pair) -> bool:
        return pair.asset in self.config.ids

    async def fetch(self, pair: Pair, now: float) -> Observation:
        coin = self.config.ids[pair.asset]
        vs = pair.currency.lower()
        body = await self.get(
            f"/api/v3/simple/price?ids={quote(coin)}&vs_currencies={vs}"
            "&include_last_updated_at=true"
        )
        prices = body.get(coin) if isinstance(body, dict) else None
        if not isinstance(prices, dict):
            raise SourceFailed(f"no prices for {coin!r}")
        updated = prices.get("last_updated_at")
        at = float(updated) if isinstance(updated, Decimal) and updated > 0 else now
        return Observation(self.name, pair, positive(prices.get(vs)), min(at, now))


def positive(value: Any) -> Decimal:
    """A price from a JSON string or number, as a finite Decimal above zero."""
    if isinstance(value, str):
        try:
            value = Decimal(value)
        except InvalidOperation:
            raise SourceFailed(f"price {value!r} is not a number") from None
    if not isinstance(value, Decimal) or not value.is_finite() or value <= 0:
        raise SourceFailed(f"price {value!r} is not a positive number")
    return value

"""Rates read from contracts with ``eth_call``: Chainlink aggregators and Uniswap pools.

Integers come off the chain and are scaled by their decimals with ``Decimal.scaleb``, so
the rate is exact. A Uniswap v2 spot price can be moved within one block by whoever trades
against the pool; a v3 pool's time-weighted average (``twap`` seconds) cannot cheaply, and
either way the median and ``max_spread`` against other sources of the pair limit what one
pool can do. A pool quotes the base asset in its quote asset (0xBTC in WETH); the book
multiplies that by the quote asset's own rate from the other sources (ETH in USD).
"""

from __future__ import annotations

from decimal import Decimal, localcontext
from typing import Any, Protocol

from eth_abi.abi import decode, encode
from eth_utils.crypto import keccak

from xbtcpay.core.errors import ChainError
from xbtcpay.rates.observation import Observation, SourceFailed
from xbtcpay.rates.settings import Pair, SourceConfig


class Caller(Protocol):
    """The one node call a contract read needs (``ChainClient.call``)."""

    async def call(self, method: str, params: list[Any] | None = None) -> Any: ...


def selector(signature: str) -> str:
    return "0x" + keccak(text=signature)[:4].hex()


async def read(node: Caller, contract: str, data: str, types: list[str]) -> tuple[Any, ...]:
    """``eth_call`` at the latest block, decoded; any node or decoding failure -> SourceFailed."""
    try:
        raw = await node.call("eth_call", [{"to": contract, "data": data}, "latest"])
        if not isinstance(raw, str) or not raw.startswith("0x") or len(raw) < 3:
            raise SourceFailed(f"{contract}: empty answer (no contract there?)")
        return tuple(decode(types, bytes.fromhex(raw[2:])))
    except ChainError as exc:
        raise SourceFailed(f"node: {exc}") from None
    except (ValueError, TypeError) as exc:  # eth_abi's decoding errors are ValueErrors
        raise SourceFailed(f"{contract}: undecodable answer ({exc})") from None


class ChainlinkSource:
    """``latestRoundData()`` and ``decimals()`` of one aggregator per pair. Refused: an
    answer <= 0, an unfinished round, or an ``updatedAt`` older than ``max_age``."""

    def __init__(self, config: SourceConfig, node: Caller) -> None:
        self.name = config.name
        self.max_age = config.max_age
        self.feeds = config.feeds
        self.node = node
        self._decimals: dict[str, int] = {}

    def serves(self, pair: Pair) -> bool:
        return pair in self.feeds

    async def fetch(self, pair: Pair, now: float) -> Observation:
        feed = self.feeds[pair]
        if feed not in self._decimals:
            (decimals,) = await read(self.node, feed, selector("decimals()"), ["uint8"])
            self._decimals[feed] = int(decimals)
        round_id, answer, _, updated_at, answered_in = await read(
            self.node,
            feed,
            selector("latestRoundData()"),
            ["uint80", "int256", "uint256", "uint256", "uint80"],
        )
        if answer <= 0:
            raise SourceFailed(f"{feed}: answer {answer} is not positive")
        if updated_at == 0 or answered_in < round_id:
            raise SourceFailed(f"{feed}: round {round_id} is not complete")
        if now - updated_at > self.max_age:
            raise SourceFailed(f"{feed}: updated {int(now - updated_at)} s ago (max_age)")
        rate = Decimal(answer).scaleb(-self._decimals[feed])
        return Observation(self.name, pair, rate, float(min(updated_at, now)))


class PoolSource:
    """The price of ``base`` in ``quote`` from a Uniswap v2 pair (``getReserves``,
    ``token0``) or a v3 pool's time-weighted average tick (``observe``)."""

    def __init__(
        self,
        config: SourceConfig,
        node: Caller,
        contracts: dict[str, str],
        decimals: dict[str, int],
    ) -> None:
        self.name = config.name
        self.max_age = config.max_age
        self.config = config
        self.node = node
        self.base = config.base
        self.quote = config.quote
        self.base_contract = contracts[config.base].lower()
        self.base_decimals = decimals[config.base]
        self.quote_decimals = decimals[config.quote]
        self._base_is_token0: bool | None = None

    def serves(self, pair: Pair) -> bool:
        return pair.asset == self.base

    async def price(self, now: float) -> Decimal:
        """How many ``quote`` one ``base`` is worth, now."""
        pool = self.config.contract
        if self._base_is_token0 is None:
            (token0,) = await read(self.node, pool, selector("token0()"), ["address"])
            self._base_is_token0 = str(token0).lower() == self.base_contract
        if self.config.pool_version == 2:
            return await self._spot(pool)
        return await self._twap(pool)

    async def _spot(self, pool: str) -> Decimal:
        r0, r1, _ = await read(
            self.node, pool, selector("getReserves()"), ["uint112", "uint112", "uint32"]
        )
        base, quote = (r0, r1) if self._base_is_token0 else (r1, r0)
        if base == 0 or quote == 0:
            raise SourceFailed(f"{pool}: empty reserves")
        with localcontext() as ctx:
            ctx.prec = 50
            return +(
                Decimal(quote).scaleb(-self.quote_decimals)
                / Decimal(base).scaleb(-self.base_decimals)
            )

    async def _twap(self, pool: str) -> Decimal:
        seconds = self.config.twap
        data = selector("observe(uint32[])") + _encode_observe(seconds)
        (cumulatives, _) = await read(self.node, pool, data, ["int56[]", "uint160[]"])
        if len(cumulatives) != 2:
            raise SourceFailed(f"{pool}: observe answered {len(cumulatives)} points")
        tick = (cumulatives[1] - cumulatives[0]) // seconds  # floor, as the pool rounds
        with localcontext() as ctx:
            ctx.prec = 50
            raw = Decimal("1.0001") ** tick  # token1 per token0, in raw units
            d0, d1 = (
                (self.base_decimals, self.quote_decimals)
                if self._base_is_token0
                else (self.quote_decimals, self.base_decimals)
            )
            token1_per_token0 = raw.scaleb(d0 - d1)
            price: Decimal = token1_per_token0 if self._base_is_token0 else 1 / token1_per_token0
            return +price

    async def fetch(self, pair: Pair, now: float) -> Observation:
        """Only the price in ``quote``; the book converts it into ``pair.currency``."""
        return Observation(self.name, Pair(self.base, self.quote), await self.price(now), now)


def _encode_observe(seconds: int) -> str:
    return encode(["uint32[]"], [[seconds, 0]]).hex()

"""Configured rates: a stablecoin's peg (``usdc_base/USD: "1"``)."""

from __future__ import annotations

from xbtcpay.rates.observation import Observation
from xbtcpay.rates.settings import Pair, SourceConfig


class FixedSource:
    """Always answers its configured rate, as of now. Its ``guard`` (another source's live
    rate) is checked by the book: a stablecoin that lost its peg is refused, not sold at 1."""

    def __init__(self, config: SourceConfig) -> None:
        self.name = config.name
        self.max_age = config.max_age
        self.rates = config.fixed
        self.guard = config.guard
        self.guard_percent = config.guard_percent

    def serves(self, pair: Pair) -> bool:
        return pair in self.rates

    async def fetch(self, pair: Pair, now: float) -> Observation:
        return Observation(self.name, pair, self.rates[pair], now)

"""What a source answered, what a pair's rate is, and the refusal when there is none."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol

from xbtcpay.core.errors import RpcError
from xbtcpay.rates.settings import Pair


@dataclass(frozen=True)
class Observation:
    """One source's rate for one pair, and when it was true (the source's own time where it
    says one, such as a Chainlink round's ``updatedAt``, else when it was fetched)."""

    source: str
    pair: Pair
    rate: Decimal
    at: float
    via: str | None = None  # a rate made of two: the other pair it was multiplied with

    def json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"source": self.source, "rate": decimal_text(self.rate)}
        out["at"] = int(self.at)
        if self.via is not None:
            out["via"] = self.via
        return out


@dataclass(frozen=True)
class Rate:
    """A pair's rate: the median of ``observations`` (the fresh sources that agreed)."""

    pair: Pair
    value: Decimal
    observations: tuple[Observation, ...]

    @property
    def at(self) -> float:
        """The time of the oldest answer the rate rests on."""
        return min(o.at for o in self.observations)

    def json(self) -> dict[str, Any]:
        return {
            "asset": self.pair.asset,
            "currency": self.pair.currency,
            "rate": decimal_text(self.value),
            "at": int(self.at),
            "sources": [o.json() for o in self.observations],
        }


class SourceFailed(Exception):
    """A source could not answer for a pair (down, malformed, stale, not listed)."""


class RateSource(Protocol):
    """One configured source of rates."""

    name: str
    max_age: float

    def serves(self, pair: Pair) -> bool:
        """Whether this source quotes ``pair`` at all (a refusal is not an error then)."""
        ...

    async def fetch(self, pair: Pair, now: float) -> Observation:
        """The current rate of ``pair``; raises SourceFailed."""
        ...


class NoReliableRate(RpcError):
    """No fresh source, sources that disagree, or a stablecoin off its peg.

    -32012 is also the commerce layer's "Insufficient balance"; the two never come from the
    same method, and the message tells them apart."""

    code = -32012
    base_message = "No reliable rate"
    http_status = 503

    def __init__(self, pair: Pair, reason: str) -> None:
        self.pair = pair
        self.reason = reason
        super().__init__(reason, {"asset": pair.asset, "currency": pair.currency})

    @property
    def message(self) -> str:
        return f"no reliable rate for {self.pair}: {self.reason}"


def decimal_text(value: Decimal) -> str:
    """A rate as plain decimal text (no exponent), trailing zeros dropped."""
    text = format(value.normalize(), "f") if value != 0 else "0"
    return text

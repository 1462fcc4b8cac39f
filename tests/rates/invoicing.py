"""A daemon that prices invoices in USD: loopback Coinbase and Kraken fakes (0xBTC, ETH) and
a configured peg (USDC), on the one dev chain of the test configuration."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from tests.fakes.exchanges import FakeExchange
from tests.harness import DaemonHandle, running_daemon

USDC = "0x" + "11" * 20
EXCHANGE_PRICES = {("0XBTC", "USD"): "0.12345", ("ETH", "USD"): "3012.55"}
KRAKEN_PRICES = {("XBTCUSD", "USD"): "0.12355", ("ETHUSD", "USD"): "3013.05"}


def invoice_config(
    cb: FakeExchange, kr: FakeExchange, refresh: float = 30, **pricing: Any
) -> dict[str, Any]:
    return {
        "assets": {
            "usdc": {"contract": USDC, "decimals": 6, "symbol": "USDC"},
            "eth": {"native": True},
        },
        "pricing": {"lock": 900, "tolerance": "0.5", "on_expiry": "requote", **pricing},
        "rates": {
            "refresh": refresh,
            "max_spread": "2",
            "sources": {
                "peg": {"type": "fixed", "rates": {"usdc/USD": "1"}},
                "cb": {"type": "coinbase", "url": cb.url},
                "kr": {
                    "type": "kraken",
                    "url": kr.url,
                    "pairs": {"0xbtc/USD": "XBTCUSD", "eth/USD": "ETHUSD"},
                },
            },
        },
    }


@asynccontextmanager
async def invoice_daemon(
    tmp_path: Path, clock: Callable[[], float] = time.time, refresh: float = 30, **pricing: Any
) -> AsyncIterator[tuple[DaemonHandle, FakeExchange, FakeExchange]]:
    async with (
        FakeExchange("coinbase", dict(EXCHANGE_PRICES)) as cb,
        FakeExchange("kraken", dict(KRAKEN_PRICES)) as kr,
        running_daemon(tmp_path, invoice_config(cb, kr, refresh, **pricing), clock=clock) as d,
    ):
        yield d, cb, kr

"""Building a rate book the way the daemon does: from a parsed ``rates:`` section."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp

from xbtcpay.core.settings import AssetConfig, Reader
from xbtcpay.rates.book import RateBook
from xbtcpay.rates.onchain import Caller
from xbtcpay.rates.service import build_sources
from xbtcpay.rates.settings import RatesConfig, parse_rates

ASSETS = {
    "eth": AssetConfig("eth", 18, native=True, symbol="ETH"),
    "usdc": AssetConfig("usdc", 6, contract="0x" + "11" * 20, symbol="USDC"),
    "0xbtc": AssetConfig("0xbtc", 8, contract="0x" + "22" * 20, symbol="0xBTC"),
}


def rates_config(raw: dict[str, Any]) -> RatesConfig:
    r = Reader(Path("."))
    config = parse_rates(r, raw, ASSETS)
    assert not r.problems, r.problems
    assert config is not None
    return config


class Clock:
    """Wall time that a test moves forward by hand."""

    def __init__(self) -> None:
        self.now = float(int(time.time()))

    def __call__(self) -> float:
        return self.now


def book(
    raw: dict[str, Any],
    session: aiohttp.ClientSession,
    clock: Callable[[], float],
    node: Caller | None = None,
    assets: dict[str, AssetConfig] | None = None,
) -> RateBook:
    config = rates_config(raw)

    def node_for(chain: str | None) -> Caller:
        assert node is not None, "this test has no node"
        return node

    return RateBook(config, build_sources(config, session, assets or ASSETS, node_for), clock)

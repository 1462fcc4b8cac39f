"""The ``rates:`` section: the documented shape parses, and every mistake stops start-up."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.harness import base_config
from xbtcpay.app.config import parse_config
from xbtcpay.core.errors import ConfigError

FEED = "0x" + "ab" * 20


def config_with(tmp_path: Path, rates: Any) -> Any:
    raw = base_config(
        tmp_path,
        {
            "assets": {
                "eth": {"native": True},
                "usdc": {"contract": "0x" + "11" * 20, "decimals": 6},
            },
            "rates": rates,
        },
    )
    return parse_config(raw, tmp_path / "config.yaml")


def test_the_documented_sources_parse(tmp_path: Path) -> None:
    config = config_with(
        tmp_path,
        {
            "refresh": 30,
            "max_spread": "2",
            "sources": {
                "peg": {"type": "fixed", "rates": {"usdc/USD": "1"}, "guard": "cb"},
                "cb": {"type": "coinbase", "url": "http://127.0.0.1:9"},
                "kr": {"type": "kraken", "pairs": {"eth/USD": "XETHZUSD"}},
                "cg": {"type": "coingecko", "ids": {"eth": "ethereum"}},
                "feeds": {"type": "chainlink", "max_age": 3600, "feeds": {"eth/USD": FEED}},
                "pool": {"type": "dex", "pair": FEED, "base": "0xbtc", "quote": "eth"},
            },
        },
    )
    rates = config.rates
    assert rates is not None and str(rates.max_spread) == "2"
    assert rates.sources["kr"].url == "https://api.kraken.com"  # the real host by default
    assert rates.sources["cb"].url == "http://127.0.0.1:9"


@pytest.mark.parametrize(
    ("rates", "line"),
    [
        ({"refresh": 30, "sorces": {}}, "rates.sorces: unknown key (typo?)"),
        (
            {"sources": {"cb": {"type": "coinbase", "ulr": "http://x"}}},
            "rates.sources.cb.ulr: unknown key (typo?)",
        ),
        ({"sources": {"cb": {"type": "binance"}}}, "rates.sources.cb.type: expected one of"),
        (
            {"sources": {"peg": {"type": "fixed", "rates": {"usdc/USD": 1.0}}}},
            'rates.sources.peg.rates.usdc/USD: expected a decimal string such as "1.5"',
        ),
        (
            {"sources": {"peg": {"type": "fixed", "rates": {"usdc/usd": "1"}}}},
            "rates.sources.peg.rates.usdc/usd: expected ASSET/CURRENCY",
        ),
        (
            {"sources": {"peg": {"type": "fixed", "rates": {"dai/USD": "1"}}}},
            "rates.sources.peg.rates.dai/USD: unknown asset 'dai'",
        ),
        (
            {"sources": {"peg": {"type": "fixed", "rates": {"usdc/USD": "1"}, "guard": "cb"}}},
            "rates.sources.peg.guard: no source named 'cb'",
        ),
        ({"max_spread": "150", "sources": {"c": {"type": "coinbase"}}}, "rates.max_spread:"),
        (
            {"sources": {"f": {"type": "chainlink", "feeds": {"eth/USD": "0x12"}}}},
            "rates.sources.f.feeds.eth/USD: expected a 0x-prefixed 20-byte address",
        ),
        (
            {
                "sources": {
                    "p": {
                        "type": "dex",
                        "pair": FEED,
                        "pool": FEED,
                        "base": "0xbtc",
                        "quote": "eth",
                    }
                }
            },
            "rates.sources.p: expected exactly one of pair",
        ),
        (
            {"sources": {"f": {"type": "chainlink", "chain": "l9", "feeds": {"eth/USD": FEED}}}},
            "rates.sources.f.chain: unknown chain 'l9'",
        ),
        ({"sources": {}}, "rates.sources: expected a mapping of at least one source"),
    ],
)
def test_a_mistake_stops_start_up_with_one_clear_line(
    tmp_path: Path, rates: Any, line: str
) -> None:
    with pytest.raises(ConfigError) as stopped:
        config_with(tmp_path, rates)
    assert any(p.startswith(line) for p in stopped.value.problems), stopped.value.problems

"""Chainlink aggregators and Uniswap pools read with eth_call on anvil (mock contracts with
the real interfaces: latestRoundData/decimals, token0/getReserves, token0/observe)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import aiohttp
import pytest

from tests.fakes.exchanges import FakeExchange
from tests.fixtures.chain import DevChain
from tests.rates.conftest import ASSETS, Clock, book
from xbtcpay.chain import devchain
from xbtcpay.core.settings import AssetConfig
from xbtcpay.rates.observation import NoReliableRate, SourceFailed
from xbtcpay.rates.settings import Pair

ETH_USD = Pair("eth", "USD")
BTC_USD = Pair("0xbtc", "USD")


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


async def deploy(chain: DevChain, name: str, *args: Any) -> str:
    return await devchain.deploy(chain.client, name, chain.payer, list(args))


async def send(chain: DevChain, to: str, signature: str, types: list[str], args: list[Any]) -> None:
    data = devchain.calldata(signature, types, args)
    tx = await devchain.send_transaction(chain.client, chain.payer, to=to, data=data)
    await devchain.wait_receipt(chain.client, tx)


def feeds(feed: str, max_age: int = 3600) -> dict[str, Any]:
    return {
        "sources": {"feeds": {"type": "chainlink", "max_age": max_age, "feeds": {"eth/USD": feed}}}
    }


async def test_a_chainlink_answer_is_scaled_exactly_by_its_decimals(
    chain: DevChain, session: aiohttp.ClientSession
) -> None:
    feed = await deploy(chain, "MockAggregator", 8, 200012345678)
    rate = await book(feeds(feed), session, Clock(), chain.client).rate(ETH_USD)
    assert rate.value == Decimal("2000.12345678")


@pytest.mark.parametrize(
    ("answer", "age", "round_id", "answered_in", "why"),
    [
        (200000000000, 3601, 2, 2, "updated 3601 s ago"),
        (0, 0, 2, 2, "answer 0 is not positive"),
        (-5, 0, 2, 2, "answer -5 is not positive"),
        (200000000000, 0, 3, 2, "round 3 is not complete"),
    ],
)
async def test_a_stale_non_positive_or_unfinished_round_is_refused(
    chain: DevChain,
    session: aiohttp.ClientSession,
    answer: int,
    age: int,
    round_id: int,
    answered_in: int,
    why: str,
) -> None:
    feed = await deploy(chain, "MockAggregator", 8, 1)
    clock = Clock()
    await send(
        chain,
        feed,
        "setRound(int256,uint256,uint80,uint80)",
        ["int256", "uint256", "uint80", "uint80"],
        [answer, int(clock.now) - age, round_id, answered_in],
    )
    rates = book(feeds(feed), session, clock, chain.client)
    with pytest.raises(NoReliableRate, match="no source has a fresh rate"):
        await rates.rate(ETH_USD)
    with pytest.raises(SourceFailed, match=why):  # and why
        await rates.sources["feeds"].fetch(ETH_USD, clock.now)


def pool_assets(token: str) -> dict[str, AssetConfig]:
    return {**ASSETS, "0xbtc": AssetConfig("0xbtc", 8, contract=token, symbol="0xBTC")}


async def test_a_v2_pair_prices_0xbtc_through_eth_and_the_eth_rate_of_other_sources(
    chain: DevChain, session: aiohttp.ClientSession
) -> None:
    weth = await deploy(chain, "TestZeroXBitcoin", 10**30)  # any second token stands for WETH
    # 1,000 0xBTC (8 decimals) against 0.5 WETH (18 decimals): 0.0005 ETH per 0xBTC
    pair = await deploy(chain, "MockPairV2", chain.token, weth, 1000 * 10**8, 5 * 10**17)
    async with FakeExchange("coinbase", {("ETH", "USD"): "2000"}) as cb:
        raw = {
            "sources": {
                "cb": {"type": "coinbase", "url": cb.url},
                "pool": {"type": "dex", "pair": pair, "base": "0xbtc", "quote": "eth"},
            }
        }
        rates = book(raw, session, Clock(), chain.client, pool_assets(chain.token))
        rate = await rates.rate(BTC_USD)
        assert rate.value == Decimal("1")  # 0.0005 ETH x 2000 USD
        (through,) = rate.observations
        assert (through.source, through.via) == ("pool", "eth/USD")
        # the pool's reserves move: 0xBTC now 0.001 ETH
        await send(
            chain,
            pair,
            "setReserves(uint112,uint112,address)",
            ["uint112", "uint112", "address"],
            [1000 * 10**8, 10**18, chain.token],
        )
        fresh = book(raw, session, Clock(), chain.client, pool_assets(chain.token))
        assert (await fresh.rate(BTC_USD)).value == Decimal("2")


async def test_a_pool_without_a_rate_for_its_quote_asset_gives_no_rate(
    chain: DevChain, session: aiohttp.ClientSession
) -> None:
    weth = await deploy(chain, "TestZeroXBitcoin", 10**30)
    pair = await deploy(chain, "MockPairV2", chain.token, weth, 10**8, 10**18)
    raw = {"sources": {"pool": {"type": "dex", "pair": pair, "base": "0xbtc", "quote": "eth"}}}
    rates = book(raw, session, Clock(), chain.client, pool_assets(chain.token))
    with pytest.raises(NoReliableRate, match="no source has a fresh rate"):
        await rates.rate(BTC_USD)


async def test_a_v3_pool_uses_its_time_weighted_average_tick(
    chain: DevChain, session: aiohttp.ClientSession
) -> None:
    weth = await deploy(chain, "TestZeroXBitcoin", 10**30)
    token0 = min(chain.token.lower(), weth.lower())
    # tick 6932: 1.0001^6932 = 2.0000 raw units of token1 per raw unit of token0
    pool = await deploy(chain, "MockPoolV3", chain.token, weth, 6932)
    async with FakeExchange("coinbase", {("ETH", "USD"): "1000"}) as cb:
        raw = {
            "sources": {
                "cb": {"type": "coinbase", "url": cb.url},
                "pool": {"type": "dex", "pool": pool, "base": "0xbtc", "quote": "eth", "twap": 600},
            }
        }
        rates = book(raw, session, Clock(), chain.client, pool_assets(chain.token))
        rate = (await rates.rate(BTC_USD)).value
    # raw 2 per raw unit; 0xBTC has 8 decimals, the quote token 18
    if token0 == chain.token.lower():  # 0xBTC is token0: 2 raw WETH per raw 0xBTC
        expected = Decimal(2) * Decimal(10) ** (8 - 18) * 1000
    else:  # 0xBTC is token1: 2 raw 0xBTC per raw WETH
        expected = Decimal(1) / (Decimal(2) * Decimal(10) ** (18 - 8)) * 1000
    assert abs(rate - expected) / expected < Decimal("0.0001")

"""The rate book against loopback fakes of Coinbase, Kraken and CoinGecko (real HTTP)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal

import aiohttp
import pytest

from tests.fakes.exchanges import FakeExchange
from tests.rates.conftest import Clock, book
from xbtcpay.rates.observation import NoReliableRate, SourceFailed
from xbtcpay.rates.settings import Pair

ETH_USD = Pair("eth", "USD")
USDC_USD = Pair("usdc", "USD")


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


@pytest.fixture
async def exchanges() -> AsyncIterator[tuple[FakeExchange, FakeExchange, FakeExchange]]:
    async with (
        FakeExchange("coinbase", {("ETH", "USD"): "2000.10", ("USDC", "USD"): "0.9998"}) as cb,
        FakeExchange("kraken", {("XETHZUSD", "USD"): "2000.30"}) as kr,
        FakeExchange("coingecko", {("ethereum", "USD"): "2000.123456789012345678901"}) as cg,
    ):
        yield cb, kr, cg


def three(cb: FakeExchange, kr: FakeExchange, cg: FakeExchange) -> dict[str, object]:
    return {
        "refresh": 30,
        "max_spread": "2",
        "sources": {
            "cb": {"type": "coinbase", "url": cb.url},
            "kr": {"type": "kraken", "url": kr.url, "pairs": {"eth/USD": "XETHZUSD"}},
            "cg": {"type": "coingecko", "url": cg.url, "ids": {"eth": "ethereum"}},
        },
    }


async def test_the_rate_is_the_median_of_three_sources_digit_for_digit(
    session: aiohttp.ClientSession, exchanges: tuple[FakeExchange, FakeExchange, FakeExchange]
) -> None:
    clock = Clock()
    rates = book(three(*exchanges), session, clock)
    rate = await rates.rate(ETH_USD)
    assert rate.value == Decimal("2000.123456789012345678901")  # CoinGecko's JSON number, exact
    assert {o.source: o.rate for o in rate.observations} == {
        "cb": Decimal("2000.10"),
        "kr": Decimal("2000.30"),
        "cg": Decimal("2000.123456789012345678901"),
    }
    assert rate.json()["rate"] == "2000.123456789012345678901"


async def test_a_source_at_ten_times_the_others_refuses_the_quote(
    session: aiohttp.ClientSession, exchanges: tuple[FakeExchange, FakeExchange, FakeExchange]
) -> None:
    cb, kr, cg = exchanges
    kr.prices[("XETHZUSD", "USD")] = "20003.00"
    rates = book(three(cb, kr, cg), session, Clock())
    with pytest.raises(NoReliableRate) as refused:
        await rates.rate(ETH_USD)
    assert refused.value.code == -32012
    assert refused.value.message.startswith("no reliable rate for eth/USD: sources disagree by")
    assert "kr 20003" in refused.value.message


async def test_two_sources_within_the_spread_give_their_mean(
    session: aiohttp.ClientSession, exchanges: tuple[FakeExchange, FakeExchange, FakeExchange]
) -> None:
    cb, kr, _ = exchanges
    raw = three(*exchanges)
    del raw["sources"]["cg"]  # type: ignore[attr-defined]
    rate = await book(raw, session, Clock()).rate(ETH_USD)
    assert rate.value == Decimal("2000.20")


async def test_a_spread_just_over_the_limit_is_refused_and_just_under_is_not(
    session: aiohttp.ClientSession, exchanges: tuple[FakeExchange, FakeExchange, FakeExchange]
) -> None:
    cb, kr, cg = exchanges
    raw = three(cb, kr, cg)
    del raw["sources"]["cg"]  # type: ignore[attr-defined]
    cb.prices[("ETH", "USD")] = "1000"
    kr.prices[("XETHZUSD", "USD")] = "1020"  # 1.98 % of the median 1010
    assert (await book(raw, session, Clock()).rate(ETH_USD)).value == Decimal(1010)
    kr.prices[("XETHZUSD", "USD")] = "1021"  # 2.07 %
    with pytest.raises(NoReliableRate):
        await book(raw, session, Clock()).rate(ETH_USD)


async def test_broken_answers_leave_the_other_sources_to_decide(
    session: aiohttp.ClientSession, exchanges: tuple[FakeExchange, FakeExchange, FakeExchange]
) -> None:
    cb, kr, cg = exchanges
    for broken in ("500", "html", "huge"):
        kr.broken = broken
        rate = await book(three(cb, kr, cg), session, Clock()).rate(ETH_USD)
        assert {o.source for o in rate.observations} == {"cb", "cg"}


async def test_a_rate_is_fetched_once_per_refresh_even_by_concurrent_callers(
    session: aiohttp.ClientSession, exchanges: tuple[FakeExchange, FakeExchange, FakeExchange]
) -> None:
    cb, kr, cg = exchanges
    clock = Clock()
    rates = book(three(cb, kr, cg), session, clock)
    await asyncio.gather(*(rates.rate(ETH_USD) for _ in range(20)))
    assert (len(cb.requests), len(kr.requests), len(cg.requests)) == (1, 1, 1)
    clock.now += 29
    await rates.rate(ETH_USD)
    assert len(cb.requests) == 1
    clock.now += 2
    await rates.rate(ETH_USD)
    assert len(cb.requests) == 2


async def test_a_source_that_goes_down_counts_until_its_answer_is_older_than_max_age(
    session: aiohttp.ClientSession, exchanges: tuple[FakeExchange, FakeExchange, FakeExchange]
) -> None:
    cb, _, _ = exchanges
    raw = {"sources": {"cb": {"type": "coinbase", "url": cb.url, "max_age": 120}}}
    clock = Clock()
    rates = book(raw, session, clock)
    assert (await rates.rate(ETH_USD)).value == Decimal("2000.10")
    cb.broken = "500"
    clock.now += 119
    assert (await rates.rate(ETH_USD)).value == Decimal("2000.10")  # the last good answer
    clock.now += 2
    with pytest.raises(NoReliableRate, match="no source has a fresh rate"):
        await rates.rate(ETH_USD)


async def test_an_agreed_rate_is_reused_briefly_but_never_past_its_sources_freshness(
    session: aiohttp.ClientSession, exchanges: tuple[FakeExchange, FakeExchange, FakeExchange]
) -> None:
    cb, _, _ = exchanges
    raw = {"sources": {"cb": {"type": "coinbase", "url": cb.url, "max_age": 120}}}
    clock = Clock()
    rates = book(raw, session, clock)
    first = await rates.rate(ETH_USD)
    assert await rates.rate(ETH_USD) is first  # agreed once, reused by the next quote
    cb.broken = "500"
    clock.now += 119.5
    assert (await rates.rate(ETH_USD)).value == Decimal("2000.10")  # still fresh: 119.5 s old
    clock.now += 0.6  # within a second of that answer, but past the source's max_age
    with pytest.raises(NoReliableRate, match="no source has a fresh rate"):
        await rates.rate(ETH_USD)


async def test_a_feed_whose_own_time_is_old_is_not_fresh(
    session: aiohttp.ClientSession, exchanges: tuple[FakeExchange, FakeExchange, FakeExchange]
) -> None:
    _, _, cg = exchanges
    clock = Clock()
    cg.updated_at = int(clock.now) - 301
    raw = {"sources": {"cg": {"type": "coingecko", "url": cg.url, "ids": {"eth": "ethereum"}}}}
    with pytest.raises(NoReliableRate, match="no source has a fresh rate"):
        await book(raw, session, clock).rate(ETH_USD)
    cg.updated_at = int(clock.now) - 299
    assert (await book(raw, session, clock).rate(ETH_USD)).at == clock.now - 299


def pegged(cb: FakeExchange) -> dict[str, object]:
    return {
        "sources": {
            "peg": {
                "type": "fixed",
                "rates": {"usdc/USD": "1"},
                "guard": "cb",
                "guard_percent": "2",
            },
            "cb": {"type": "coinbase", "url": cb.url},
        }
    }


async def test_a_stablecoin_on_its_peg_is_quoted_and_a_depegged_one_refused(
    session: aiohttp.ClientSession, exchanges: tuple[FakeExchange, FakeExchange, FakeExchange]
) -> None:
    cb, _, _ = exchanges
    rate = await book(pegged(cb), session, Clock()).rate(USDC_USD)
    assert rate.value == Decimal("0.9999")  # the peg's 1 and Coinbase's 0.9998
    cb.prices[("USDC", "USD")] = "0.87"
    with pytest.raises(NoReliableRate, match="13% off the peg of 1"):
        await book(pegged(cb), session, Clock()).rate(USDC_USD)


async def test_a_peg_whose_guard_cannot_answer_is_refused(
    session: aiohttp.ClientSession, exchanges: tuple[FakeExchange, FakeExchange, FakeExchange]
) -> None:
    cb, _, _ = exchanges
    cb.broken = "500"
    with pytest.raises(NoReliableRate, match="guard 'cb' has no fresh rate"):
        await book(pegged(cb), session, Clock()).rate(USDC_USD)


async def test_a_peg_without_guard_is_its_configured_rate(
    session: aiohttp.ClientSession,
) -> None:
    raw = {"sources": {"peg": {"type": "fixed", "rates": {"usdc/EUR": "0.92"}}}}
    rate = await book(raw, session, Clock()).rate(Pair("usdc", "EUR"))
    assert rate.value == Decimal("0.92")


async def test_a_pair_no_source_quotes_is_refused(
    session: aiohttp.ClientSession, exchanges: tuple[FakeExchange, FakeExchange, FakeExchange]
) -> None:
    cb, kr, cg = exchanges
    rates = book(three(cb, kr, cg), session, Clock())
    with pytest.raises(NoReliableRate, match="no source has a fresh rate"):
        await rates.rate(Pair("eth", "JPY"))  # asked everywhere, listed nowhere
    raw = {"sources": {"cg": {"type": "coingecko", "url": cg.url, "ids": {"eth": "ethereum"}}}}
    with pytest.raises(NoReliableRate, match="no configured source quotes it"):
        await book(raw, session, Clock()).rate(Pair("0xbtc", "USD"))


async def test_the_refresh_job_keeps_asked_pairs_warm(
    session: aiohttp.ClientSession, exchanges: tuple[FakeExchange, FakeExchange, FakeExchange]
) -> None:
    cb, kr, cg = exchanges
    clock = Clock()
    rates = book(three(cb, kr, cg), session, clock)
    await rates.rate(ETH_USD)
    clock.now += 31
    await rates.refresh()
    assert len(cb.requests) == 2
    clock.now += 3600
    await rates.refresh()  # asked over an hour ago: no longer refreshed
    assert len(cb.requests) == 2


async def test_a_peg_whose_guard_answer_has_aged_out_is_refused(
    session: aiohttp.ClientSession, exchanges: tuple[FakeExchange, FakeExchange, FakeExchange]
) -> None:
    cb, _, _ = exchanges
    clock = Clock()
    rates = book(pegged(cb), session, clock)
    await rates.rate(USDC_USD)
    cb.broken = "500"
    clock.now += 301  # Coinbase's last answer is older than its max_age (300 s)
    with pytest.raises(NoReliableRate, match="guard 'cb' has no fresh rate"):
        await rates.rate(USDC_USD)


async def test_an_oversized_answer_is_not_parsed(
    session: aiohttp.ClientSession, exchanges: tuple[FakeExchange, FakeExchange, FakeExchange]
) -> None:
    _, kr, _ = exchanges
    kr.broken = "huge"
    rates = book(three(*exchanges), session, Clock())
    with pytest.raises(SourceFailed, match="answer larger than 256 KiB"):
        await rates.sources["kr"].fetch(ETH_USD, 0.0)

"""Invoices priced in fiat: ``start_payment {price, currency, assets?}`` on a running daemon.

Rates come from loopback fakes of the ticker APIs and a configured peg; the quoted options,
their rates and sources are read back through the result, ``get_payment`` and status.json.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.chain.watching import Clock
from tests.fakes.exchanges import FakeExchange
from tests.harness import DaemonHandle, base_config, running_daemon, wait_until
from tests.rates.invoicing import (
    EXCHANGE_PRICES,
    KRAKEN_PRICES,
    USDC,
    invoice_config,
    invoice_daemon,
)
from xbtcpay.app.config import parse_config
from xbtcpay.core.errors import ConfigError


async def test_a_usd_invoice_quotes_every_asset_at_its_locked_rate_rounded_up(
    tmp_path: Path,
) -> None:
    async with invoice_daemon(tmp_path) as (d, _, _):
        reply = await d.call(
            "start_payment", {"price": "19.99", "currency": "USD", "order_id": "inv-1"}
        )
        result = reply["result"]
        assert (result["price"], result["currency"]) == ("19.99", "USD")
        options = {o["asset"]: o for o in result["options"]}
        assert [o["asset"] for o in result["options"]] == ["0xbtc", "usdc", "eth"]
        # 0xbtc: median of 0.12345 and 0.12355 = 0.1235; 19.99 / 0.1235 = 161.86234817...
        assert options["0xbtc"]["rate"] == "0.1235"
        assert options["0xbtc"]["amount"] == "161.86234818"
        assert options["usdc"] == {
            "asset": "usdc",
            "chain": "main",
            "chain_id": 31337,
            "amount": "19.99",
            "rate": "1",
            "payment_uri": options["usdc"]["payment_uri"],
        }
        # eth: 19.99 / 3012.8 = 0.00663502389803505045..., rounded up at 18 decimals
        assert options["eth"]["amount"] == "0.006635023898035051"
        assert Decimal(options["eth"]["amount"]) * Decimal("3012.8") >= Decimal("19.99")
        # the original API's fields are the first option's; one address for every option
        assert (result["asset"], result["amount"]) == ("0xbtc", "161.86234818")
        assert result["address"].startswith("0x")
        assert result["quote_expires_at"] - result["expires_at"] == 900 - 86400
        assert "uint256=19990000" in options["usdc"]["payment_uri"]
        assert options["usdc"]["payment_uri"].startswith(f"ethereum:{USDC}@31337/transfer")
        assert result["address"] in options["eth"]["payment_uri"]

        got = (await d.call("get_payment", {"id": result["id"]}))["result"]
        assert got["options"] == result["options"] and got["price"] == "19.99"
        [quote] = got["quotes"]
        assert quote["expires_at"] == result["quote_expires_at"]
        by_asset = {o["asset"]: o for o in quote["options"]}
        assert [s["source"] for s in by_asset["0xbtc"]["sources"]] == ["cb", "kr"]
        assert [s["rate"] for s in by_asset["0xbtc"]["sources"]] == ["0.12345", "0.12355"]
        assert all(isinstance(s["at"], int) for s in by_asset["0xbtc"]["sources"])
        assert [s["source"] for s in by_asset["usdc"]["sources"]] == ["peg"]

        status, doc = await d.status(result["id"])
        assert status == 200
        assert (doc["price"], doc["currency"], doc["amount"]) == ("19.99", "USD", "161.86234818")
        assert doc["quote_expires_at"] == result["quote_expires_at"]
        assert doc["options"] == result["options"]
        assert list(doc)[:6] == ["address", "amount", "seen_at", "paid_at", "tx_hash", "status"]


async def test_the_quote_lock_and_the_expiry_count_from_the_same_moment(tmp_path: Path) -> None:
    """Quoting takes time (sources, several assets); the payment's expiry and its quote's end
    still count from one reading of the clock. A clock that moves 0.7 s at every reading
    splits any two readings across a second."""
    start = time.time()
    readings = itertools.count()

    def ticking() -> float:
        return start + 0.7 * next(readings)

    async with invoice_daemon(tmp_path, clock=ticking) as (d, _, _):
        for n in range(3):
            reply = await d.call(
                "start_payment", {"price": "19.99", "currency": "USD", "order_id": f"tick-{n}"}
            )
            result = reply["result"]
            assert result["quote_expires_at"] - result["expires_at"] == 900 - 86400, result


async def test_the_shop_chooses_the_assets_and_a_retried_order_is_the_same_invoice(
    tmp_path: Path,
) -> None:
    async with invoice_daemon(tmp_path, refresh=1) as (d, cb, kr):
        params = {"price": "25", "currency": "USD", "assets": ["usdc", "eth"], "order_id": "o-7"}
        first = (await d.call("start_payment", params))["result"]
        assert [o["asset"] for o in first["options"]] == ["usdc", "eth"]
        assert (first["asset"], first["amount"]) == ("usdc", "25.0")
        kr.prices[("ETHUSD", "USD")] = "30130.5"  # no reliable eth rate now
        await asyncio.sleep(1.1)  # past rates.refresh
        refused = await d.call("start_payment", {**params, "order_id": "o-8"})
        assert refused["error"]["code"] == -32012
        again = (await d.call("start_payment", params))["result"]  # the retry is answered
        assert again["id"] == first["id"] and again["options"] == first["options"]
        other = await d.call("start_payment", {**params, "price": "26"})
        assert other["error"]["code"] == -32009 and "order_id" in other["error"]["message"]


async def test_a_payment_of_a_crypto_amount_is_unchanged(tmp_path: Path) -> None:
    async with invoice_daemon(tmp_path) as (d, _, _):
        result = await d.start_payment("1.5")
        assert not {"price", "currency", "quote_expires_at", "options"} & set(result)
        _, doc = await d.status(result["id"])
        assert not {"price", "currency", "quote_expires_at", "options"} & set(doc)
        got = (await d.call("get_payment", {"id": result["id"]}))["result"]
        assert "quotes" not in got and got["amount"] == "1.5"


@pytest.mark.parametrize(
    ("params", "code", "words"),
    [
        ({"price": "10", "currency": "USD", "amount": "1"}, -32602, "not both"),
        ({"price": "10", "currency": "usd"}, -32602, "ISO 4217"),
        ({"price": "10"}, -32602, "ISO 4217"),
        ({"price": "-1", "currency": "USD"}, -32602, "invalid price"),
        ({"price": "0", "currency": "USD"}, -32602, "invalid price"),
        ({"price": "1e3", "currency": "USD"}, -32602, "invalid price"),
        ({"price": "10", "currency": "USD", "assets": ["doge"]}, -32602, "unknown asset"),
        ({"price": "10", "currency": "USD", "assets": []}, -32602, "non-empty list"),
        ({"price": "10", "currency": "USD", "assets": ["eth", "eth"]}, -32602, "distinct"),
        ({"price": "10", "currency": "USD", "asset": "eth"}, -32602, "assets, not asset"),
        ({"price": "10", "currency": "EUR"}, -32012, "no reliable rate for 0xbtc/EUR"),
        ({"price": "10", "currency": "EUR", "assets": ["eth"]}, -32012, "eth/EUR"),
        (
            {"price": "10", "currency": "USD", "postback_url": "ftp://x"},
            -32602,
            "postback URL",
        ),
    ],
)
async def test_bad_invoice_requests_get_a_precise_error_and_create_nothing(
    tmp_path: Path, params: dict[str, Any], code: int, words: str
) -> None:
    async with invoice_daemon(tmp_path) as (d, _, _):
        reply = await d.call("start_payment", params)
        assert reply["error"]["code"] == code, reply
        assert words in reply["error"]["message"], reply
        listed = (await d.call("list_payments", {}))["result"]
        assert listed["payments"] == []


async def test_a_manipulated_source_refuses_the_quote_of_that_asset_only(tmp_path: Path) -> None:
    async with invoice_daemon(tmp_path) as (d, _, kr):
        kr.prices[("ETHUSD", "USD")] = "30130.5"  # 10x the other source
        reply = await d.call("start_payment", {"price": "10", "currency": "USD", "assets": ["eth"]})
        assert reply["error"]["code"] == -32012
        assert "eth/USD: sources disagree" in reply["error"]["message"]
        offered = (await d.call("start_payment", {"price": "10", "currency": "USD"}))["result"]
        assert [o["asset"] for o in offered["options"]] == ["0xbtc", "usdc"]


async def test_on_expiry_expire_ends_the_payment_with_its_quote(tmp_path: Path) -> None:
    async with invoice_daemon(tmp_path, on_expiry="expire", lock=600) as (d, _, _):
        result = (await d.call("start_payment", {"price": "10", "currency": "USD"}))["result"]
        assert result["expires_at"] == result["quote_expires_at"]
        got = (await d.call("get_payment", {"id": result["id"]}))["result"]
        assert got["expires_at"] - got["created_at"] == 600


async def test_an_invoice_without_rate_sources_is_refused(tmp_path: Path) -> None:
    async with running_daemon(tmp_path) as d:
        reply = await d.call("start_payment", {"price": "10", "currency": "USD"})
        assert reply["error"]["code"] == -32602
        assert "rates:" in reply["error"]["message"]


@pytest.mark.parametrize(
    ("pricing", "line"),
    [
        ({"lok": 900}, "pricing.lok: unknown key (typo?)"),
        ({"on_expiry": "later"}, "pricing.on_expiry: expected one of requote, expire"),
        ({"tolerance": 0.5}, "pricing.tolerance: expected a percent string"),
        ({"tolerance": "60"}, "pricing.tolerance: expected a percent string"),
        ({"lock": 5}, "pricing.lock: expected an integer >= 30"),
    ],
)
def test_a_misspelled_or_bad_pricing_key_stops_start_up_with_one_line(
    tmp_path: Path, pricing: dict[str, Any], line: str
) -> None:
    raw = base_config(tmp_path, {"pricing": pricing})
    with pytest.raises(ConfigError) as caught:
        parse_config(raw, tmp_path / "config.yaml")
    [problem] = caught.value.problems
    assert problem.startswith(line)


async def test_a_quote_that_runs_out_unpaid_is_renewed_at_the_current_rate(tmp_path: Path) -> None:
    clock = Clock()
    async with invoice_daemon(tmp_path, clock, refresh=1, lock=60) as (d, cb, kr):
        result = (await d.call("start_payment", {"price": "10", "currency": "USD"}))["result"]
        short = await d.call("start_payment", {"price": "10", "currency": "USD", "expires_in": 90})
        first = {o["asset"]: o["amount"] for o in result["options"]}
        assert first["0xbtc"] == "80.97165992"  # 10 / 0.1235, rounded up
        cb.prices[("0XBTC", "USD")] = "0.25"
        kr.prices[("XBTCUSD", "USD")] = "0.25"
        await asyncio.sleep(1.1)  # past rates.refresh: the next quote fetches anew
        clock.advance(30)
        await asyncio.sleep(2.5)  # the requote job ran at least once: the lock holds
        got = (await d.call("get_payment", {"id": result["id"]}))["result"]
        assert len(got["quotes"]) == 1 and got["amount"] == "80.97165992"
        clock.advance(31)

        async def requoted() -> dict[str, Any] | None:
            got = (await d.call("get_payment", {"id": result["id"]}))["result"]
            return got if len(got["quotes"]) == 2 else None

        got = await wait_until(requoted, 15)
        old, new = got["quotes"]
        assert old["options"][0]["amount"] == "80.97165992"
        assert old["options"][0]["rate"] == "0.1235"
        assert (new["options"][0]["amount"], new["options"][0]["rate"]) == ("40", "0.25")
        assert new["expires_at"] - new["quoted_at"] == 60
        assert (got["amount"], got["asset"], got["status"]) == ("40.0", "0xbtc", "new")
        _, doc = await d.status(result["id"])
        assert doc["amount"] == "40.0" and doc["quote_expires_at"] == new["expires_at"]
        assert {o["asset"]: o["amount"] for o in doc["options"]}["0xbtc"] == "40"
        assert doc["options"][0]["payment_uri"].endswith("&uint256=4000000000")

        bounded_id = short["result"]["id"]
        bounded = await wait_until(
            lambda: _quotes_of(d, bounded_id, 2), 15
        )  # renewed up to the payment's own expiry, never past it
        assert bounded["quotes"][1]["expires_at"] == bounded["expires_at"]


async def _quotes_of(d: DaemonHandle, payment_id: str, count: int) -> dict[str, Any] | None:
    got = (await d.call("get_payment", {"id": payment_id}))["result"]
    return dict(got) if len(got["quotes"]) == count else None


async def test_a_depegged_stablecoin_is_refused_and_the_other_assets_offered(
    tmp_path: Path,
) -> None:
    async with (
        FakeExchange("coinbase", {**EXCHANGE_PRICES, ("USDC", "USD"): "0.87"}) as cb,
        FakeExchange("kraken", dict(KRAKEN_PRICES)) as kr,
    ):
        config = invoice_config(cb, kr)
        config["rates"]["sources"]["peg"].update(guard="cb", guard_percent="2")
        async with running_daemon(tmp_path, config) as d:
            reply = await d.call(
                "start_payment", {"price": "10", "currency": "USD", "assets": ["usdc"]}
            )
            assert reply["error"]["code"] == -32012
            assert reply["error"]["message"] == (
                "no reliable rate for usdc/USD: cb says 0.87, 13% off the peg of 1 "
                "(guard_percent 2)"
            )
            offered = (await d.call("start_payment", {"price": "10", "currency": "USD"}))["result"]
            assert [o["asset"] for o in offered["options"]] == ["0xbtc", "eth"]

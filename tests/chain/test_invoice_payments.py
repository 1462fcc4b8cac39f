"""Invoices priced in fiat paid on real chains: two anvils (an L1 with the 0xBTC test token,
a "base" chain with a 6-decimal test stablecoin), one daemon watching both.

Rates come from the chain itself: a mock Chainlink aggregator gives ETH/USD and a mock
Uniswap v2 pair gives 0xBTC in ETH (both deployed on the L1 anvil); USDC has a configured
peg. The first funds on an option choose it; the payment is paid at that option's amount
less ``pricing.tolerance`` percent; funds on a second option are stray deposits.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from tests.chain.multichain import Node, dev_chain, start_daemon
from tests.chain.watching import Clock, units
from tests.commerce.setup import commerce, ledger_rows
from tests.harness import DaemonHandle, PostbackReceiver, base_config, wait_until
from xbtcpay.chain import devchain
from xbtcpay.core.models import Payment

CHAINS: dict[str, tuple[int, float | None]] = {"l1": (31337, None), "base": (8453, 0.25)}


ETH_USD = 2000 * 10**8  # the aggregator's answer, 8 decimals
XBTC_RESERVE = 1000 * 10**8  # the pair: 1,000 0xBTC ...
WETH_RESERVE = 25 * 10**16  # ... against 0.25 WETH: 0.00025 ETH, 0.5 USD per 0xBTC


@dataclass
class Shop:
    d: DaemonHandle
    nodes: dict[str, Node]
    feed: str  # MockAggregator, eth/USD
    pair: str  # MockPairV2, 0xbtc/weth

    async def send(self, to: str, signature: str, types: list[str], args: list[Any]) -> None:
        l1 = self.nodes["l1"]
        data = devchain.calldata(signature, types, args)
        tx = await devchain.send_transaction(l1.client, l1.payer, to=to, data=data)
        await devchain.wait_receipt(l1.client, tx)

    async def set_weth_reserve(self, units: int) -> None:
        """The pair's WETH side: the price of 0xBTC in ETH moves."""
        types = ["uint112", "uint112", "address"]
        await self.send(
            self.pair,
            "setReserves(uint112,uint112,address)",
            types,
            [XBTC_RESERVE, units, self.nodes["l1"].token],
        )

    async def set_feed(self, answer: int, updated_at: int) -> None:
        types = ["int256", "uint256", "uint80", "uint80"]
        await self.send(
            self.feed, "setRound(int256,uint256,uint80,uint80)", types, [answer, updated_at, 2, 2]
        )

    async def invoice(self, price: str, **params: Any) -> dict[str, Any]:
        reply = await self.d.call("start_payment", {"price": price, "currency": "USD", **params})
        assert "result" in reply, reply
        return dict(reply["result"])

    async def payment(self, payment_id: str) -> Payment:
        payment: Payment = await self.d.processor.get(payment_id)
        return payment

    async def until(self, payment_id: str, status: str, timeout: float = 30.0) -> Payment:
        async def check() -> Payment | None:
            p = await self.payment(payment_id)
            return p if p.status.value == status else None

        try:
            return await wait_until(check, timeout)  # type: ignore[no-any-return]
        except TimeoutError:
            p = await self.payment(payment_id)
            raise AssertionError(f"expected {status}, payment is {p.status.value}: {p}") from None

    async def pay_usdc(self, address: str, amount: str) -> None:
        await self.nodes["base"].pay_stablecoin("TestUSDC", address, units(amount, 6))

    async def pay_0xbtc(self, address: str, amount: str) -> None:
        await self.nodes["l1"].pay_tokens(address, units(amount, 8))
        await self.nodes["l1"].mine(2)  # the L1 mines on demand: confirm it

    async def scanned(self, chain: str) -> None:
        target = await self.nodes[chain].block_number()
        head = self.d.runtime.head
        await wait_until(lambda: (head.number_of(chain) or -1) >= target, 30)


@asynccontextmanager
async def shop(
    tmp_path: Path,
    clock: Clock | None = None,
    extra: dict[str, Any] | None = None,
    feed_age: int = 0,
) -> AsyncIterator[Shop]:
    """The two chains, the rate contracts and the daemon; ``feed_age``: seconds since the
    aggregator's round was updated when the daemon first reads it."""
    async with AsyncExitStack() as stack:
        nodes = dict(
            zip(
                CHAINS,
                await asyncio.gather(
                    *(stack.enter_async_context(dev_chain(cid, bt)) for cid, bt in CHAINS.values())
                ),
                strict=True,
            )
        )
        l1 = nodes["l1"]
        feed = await devchain.deploy(l1.client, "MockAggregator", l1.payer, [8, ETH_USD])
        weth = await devchain.deploy(l1.client, "TestZeroXBitcoin", l1.payer, [10**30])
        pair = await devchain.deploy(
            l1.client, "MockPairV2", l1.payer, [l1.token, weth, XBTC_RESERVE, WETH_RESERVE]
        )
        chains: dict[str, Any] = {}
        for key, (chain_id, block_time) in CHAINS.items():
            chains[key] = {
                "chain_id": chain_id,
                "rpc_urls": [nodes[key].url],
                "confirmations": 2,
                "poll_interval": 0.1 if block_time is None else block_time,
                "start_block": await nodes[key].block_number() + 1,
                "reconcile_interval": 3600,
                "request_timeout": 2,
            }
        raw = base_config(tmp_path)
        raw.pop("chain")
        raw["chains"] = chains
        raw["assets"] = {
            "0xbtc": {"chain": "l1", "contract": nodes["l1"].token, "decimals": 8},
            "usdc_base": {
                "chain": "base",
                "contract": nodes["base"].stablecoins["TestUSDC"],
                "decimals": 6,
                "symbol": "USDC",
            },
            "eth": {"chain": "l1", "native": True},
        }
        raw["pricing"] = {"lock": 900, "tolerance": "0.5", "on_expiry": "requote"}
        raw["rates"] = {
            "refresh": 1,
            "max_spread": "2",
            "sources": {
                "peg": {"type": "fixed", "rates": {"usdc_base/USD": "1"}},
                "feeds": {
                    "type": "chainlink",
                    "chain": "l1",
                    "max_age": 3600,
                    "feeds": {"eth/USD": feed},
                },
                "pool": {
                    "type": "dex",
                    "chain": "l1",
                    "pair": pair,
                    "base": "0xbtc",
                    "quote": "eth",
                },
            },
        }
        raw.update(extra or {})
        if feed_age:
            round_ = ["int256", "uint256", "uint80", "uint80"]
            args = [ETH_USD, int(time.time()) - feed_age, 2, 2]
            data = devchain.calldata("setRound(int256,uint256,uint80,uint80)", round_, args)
            tx = await devchain.send_transaction(l1.client, l1.payer, to=feed, data=data)
            await devchain.wait_receipt(l1.client, tx)
        daemon = await start_daemon(stack, tmp_path, raw, clock or time.time)
        yield Shop(daemon, nodes, feed, pair)


async def test_usd_invoices_paid_in_a_stablecoin_on_one_chain_and_in_0xbtc_on_another(
    tmp_path: Path, receiver: PostbackReceiver
) -> None:
    async with shop(tmp_path) as s:
        by_usdc = await s.invoice("19.99", postback_url=receiver.url)
        by_0xbtc = await s.invoice("19.99")
        assert [
            (o["asset"], o["amount"], o["rate"], o["chain_id"]) for o in by_usdc["options"]
        ] == [
            ("0xbtc", "39.98", "0.5", 31337),
            ("usdc_base", "19.99", "1", 8453),
            ("eth", "0.009995", "2000", 31337),
        ]
        await s.pay_usdc(by_usdc["address"], "19.99")
        await s.pay_0xbtc(by_0xbtc["address"], "39.98")

        paid = await s.until(by_usdc["id"], "paid")
        assert (paid.asset, paid.amount, paid.amount_received) == (
            "usdc_base",
            Decimal("19.99"),
            Decimal("19.99"),
        )
        assert not paid.overpaid and not paid.extra.get("underpaid")
        _, doc = await s.d.status(by_usdc["id"])
        assert (doc["asset"], doc["chain"], doc["chain_id"], doc["amount"]) == (
            "usdc_base",
            "base",
            8453,
            "19.99",
        )
        assert (doc["price"], doc["currency"]) == ("19.99", "USD")
        got = (await s.d.call("get_payment", {"id": by_usdc["id"]}))["result"]
        assert got["paid_option"]["asset"] == "usdc_base"
        assert got["paid_option"]["rate"] == "1"
        assert [x["source"] for x in got["paid_option"]["sources"]] == ["peg"]

        [posted] = await receiver.wait_for(1)
        body = posted["json"]
        assert (body["event"], body["price"], body["currency"]) == ("paid", "19.99", "USD")
        assert (body["asset"], body["amount"], body["underpaid"]) == ("usdc_base", "19.99", False)
        option = body["paid_option"]
        assert (option["asset"], option["amount"], option["rate"]) == ("usdc_base", "19.99", "1")
        assert [x["source"] for x in option["sources"]] == ["peg"]
        assert option["quoted_at"] == by_usdc["quote_expires_at"] - 900

        paid = await s.until(by_0xbtc["id"], "paid")
        assert (paid.asset, paid.amount, paid.amount_received) == (
            "0xbtc",
            Decimal("39.98"),
            Decimal("39.98"),
        )
        got = (await s.d.call("get_payment", {"id": by_0xbtc["id"]}))["result"]
        assert (got["paid_option"]["asset"], got["paid_option"]["rate"]) == ("0xbtc", "0.5")
        [source] = got["paid_option"]["sources"]  # the pool, through the feed's ETH/USD
        assert (source["source"], source["via"], source["rate"]) == ("pool", "eth/USD", "0.5")

        # the dashboard shows what was paid, at which rate, from which source
        from tests.admin.dashboard import add_user, browser

        await add_user(s.d, "vic", "viewer")
        async with browser(s.d) as b:
            await b.login("vic")
            status, page = await b.get(f"/admin/payments/{by_0xbtc['id']}")
        assert status == 200
        facts = page.split('id="invoice"')[1].split("</dl>")[0]
        assert "USD 19.99" in facts and "39.98 0xbtc" in facts and "USD 0.5" in facts
        assert "pool" in facts

        # a refund of a fiat amount at the original rate uses the option's locked rate
        reply = await s.d.call(
            "refund.create",
            {"payment": by_0xbtc["id"], "fiat_amount": "5", "rate": "original", "reason": "x"},
        )
        refund = reply["result"]
        assert (refund["amount"], refund["asset"]) == ("10.0", "0xbtc")  # USD 5 at 0.5
        assert (refund["currency"], refund["rate"], refund["rate_kind"]) == (
            "USD",
            "0.5",
            "original",
        )


async def test_tolerance_overpayment_and_a_second_option_funded(tmp_path: Path) -> None:
    async with shop(tmp_path) as s:
        inside, outside, over, both = [await s.invoice("10") for _ in range(4)]
        await s.pay_usdc(inside["address"], "9.96")  # 0.4 % short: inside 0.5 %
        await s.pay_usdc(outside["address"], "9.9")  # 1 % short
        await s.pay_usdc(over["address"], "10.5")
        await s.pay_usdc(both["address"], "10")

        paid = await s.until(inside["id"], "paid")
        assert paid.extra.get("underpaid") is True and paid.amount == Decimal("10")
        _, doc = await s.d.status(inside["id"])
        assert doc["underpaid"] is True

        paid = await s.until(over["id"], "paid")
        assert paid.overpaid and paid.amount_received == Decimal("10.5")

        await s.until(both["id"], "paid")
        await s.pay_0xbtc(both["address"], "20")  # the other option, after the choice
        await s.scanned("l1")
        await s.scanned("base")
        short = await s.payment(outside["id"])
        assert short.status.value == "seen" and short.amount_received == Decimal("9.9")
        assert short.asset == "usdc_base"

        async def stray() -> list[dict[str, Any]]:
            got = (await s.d.call("get_payment", {"id": both["id"]}))["result"]
            return list(got["stray_deposits"])

        [found] = await wait_until(stray, 30)
        assert (found["asset"], found["amount"], found["chain"]) == ("0xbtc", "20", "l1")
        settled = await s.payment(both["id"])
        assert (settled.status.value, settled.asset, settled.amount_received) == (
            "paid",
            "usdc_base",
            Decimal("10"),
        )


async def test_funds_seen_before_the_lock_ends_keep_their_rate_and_a_requote_is_paid_at_its_own(
    tmp_path: Path,
) -> None:
    clock = Clock()
    async with shop(tmp_path, clock) as s:
        early = await s.invoice("10", assets=["0xbtc"])
        late = await s.invoice("10", assets=["0xbtc"])
        assert early["amount"] == late["amount"] == "20.0"  # at 0.5 USD
        clock.advance(890)  # ten seconds before the lock ends
        await s.pay_0xbtc(early["address"], "15")  # part of it: seen, not paid
        await s.until(early["id"], "seen")
        await s.set_weth_reserve(20 * 10**16)  # 0.0002 ETH: 0.4 USD per 0xBTC
        await asyncio.sleep(1.1)  # past rates.refresh
        clock.advance(20)  # both locks ended

        async def renewed() -> dict[str, Any] | None:
            got = (await s.d.call("get_payment", {"id": late["id"]}))["result"]
            return dict(got) if len(got["quotes"]) == 2 else None

        got = await wait_until(renewed, 15)
        assert got["amount"] == "25.0" and got["quotes"][1]["options"][0]["rate"] == "0.4"
        kept = (await s.d.call("get_payment", {"id": early["id"]}))["result"]
        assert len(kept["quotes"]) == 1
        assert (kept["amount"], kept["paid_option"]["rate"]) == ("20.0", "0.5")
        await s.pay_0xbtc(early["address"], "5")  # the rest, after the lock: still 0.5
        paid = await s.until(early["id"], "paid")
        assert (paid.amount, paid.amount_received) == (Decimal("20"), Decimal("20"))

        await s.pay_0xbtc(late["address"], "25")
        paid = await s.until(late["id"], "paid")
        assert paid.amount == Decimal("25") and not paid.extra.get("underpaid")
        got = (await s.d.call("get_payment", {"id": late["id"]}))["result"]
        assert got["paid_option"]["rate"] == "0.4"
        assert got["paid_option"]["quoted_at"] == got["quotes"][1]["quoted_at"]


async def test_a_catalog_product_priced_in_fiat_bought_with_crypto_gets_its_receipt(
    tmp_path: Path,
) -> None:
    products = {
        "ebook": {"type": "one_time", "prices": {"USD": "11.00"}, "description": "An e-book"},
        "credits": {"type": "top_up", "currency": "USD", "min": "1", "max": "100"},
    }
    async with shop(tmp_path, extra=commerce(products=products)) as s:
        for params, words in (
            ({"product": "ebook", "currency": "USD", "price": "10"}, "catalog price 11.00"),
            ({"product": "ebook", "currency": "EUR"}, "unknown currency 'EUR'"),
            ({"product": "nope", "currency": "USD"}, "unknown product 'nope'"),
            ({"product": "credits", "currency": "USD", "price": "5"}, "only one_time"),
        ):
            reply = await s.d.call("start_payment", params)
            assert reply["error"]["code"] == -32602 and words in reply["error"]["message"], reply
        bought = (await s.d.call("start_payment", {"product": "ebook", "currency": "USD"}))[
            "result"
        ]
        assert (bought["price"], bought["currency"]) == ("11.00", "USD")
        assert {o["asset"]: o["amount"] for o in bought["options"]} == {
            "0xbtc": "22",
            "usdc_base": "11",
            "eth": "0.0055",
        }
        await s.pay_0xbtc(bought["address"], "22")
        paid = await s.until(bought["id"], "paid")
        assert (paid.product, paid.asset, paid.amount) == ("ebook", "0xbtc", Decimal("22"))

        [(number,)] = ledger_rows(
            tmp_path, "SELECT number FROM issued_receipts WHERE payment_id = ?", (paid.id,)
        )
        receipt = (await s.d.call("receipt.get", {"number": number}))["result"]
        assert (receipt["currency"], receipt["total"], receipt["tax"]) == ("USD", "11.00", "1.00")
        assert (receipt["tax_rate"], receipt["tax_country"], receipt["method"]) == (
            "0.10",
            "AU",
            "crypto",
        )
        assert receipt["lines"] == [
            {"product": "ebook", "description": "An e-book", "quantity": 1, "amount": "11.00"}
        ]
        assert receipt["payment_id"] == paid.id


async def test_a_stale_feed_refuses_the_assets_it_prices_and_the_others_are_offered(
    tmp_path: Path,
) -> None:
    async with shop(tmp_path, feed_age=3700) as s:  # older than max_age 3600
        for asset in ("eth", "0xbtc"):  # 0xBTC is priced through ETH/USD
            reply = await s.d.call(
                "start_payment", {"price": "10", "currency": "USD", "assets": [asset]}
            )
            assert reply["error"]["code"] == -32012, reply
            assert reply["error"]["message"].startswith(f"no reliable rate for {asset}/USD")
        offered = await s.invoice("10")
        assert [o["asset"] for o in offered["options"]] == ["usdc_base"]
        assert (offered["asset"], offered["chain"]) == ("usdc_base", "base")
        await s.set_feed(ETH_USD, int(time.time()))
        await asyncio.sleep(1.1)
        again = await s.invoice("10")
        assert [o["asset"] for o in again["options"]] == ["0xbtc", "usdc_base", "eth"]

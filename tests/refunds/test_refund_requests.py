"""refund.create / get / list / cancel on anvil: the cap (received minus refunds held),
partial refunds, fiat amounts at the current rate, stray deposits, claim links."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.chain.watching import units
from tests.fixtures.chain import DevChain
from tests.refunds.kit import create, paid, refunded_units, refunds_server, refused

SHOP = "0x52908400098527886E0F7030069857D2E4169EE7"  # an EIP-55 test vector


async def test_partial_refunds_up_to_what_was_received_and_no_further(
    tmp_path: Path, chain: DevChain
) -> None:
    async with refunds_server(tmp_path, chain) as w:
        payment = await paid(w, "4")
        first = await create(w, payment=payment["id"], amount="1.5", address=SHOP, reason="late")
        assert (first["status"], first["amount"], first["asset"]) == ("requested", "1.5", "0xbtc")
        assert first["address"] == SHOP and "claim_url" not in first
        second = await create(w, payment=payment["id"], amount="2", address=SHOP, reason="rest")
        assert second["amount"] == "2.0"
        message = await refused(
            w, "refund.create", payment=payment["id"], amount="0.6", address=SHOP, reason="x"
        )
        assert "0.5 0xbtc" in message
        # the last 0.5 still fits
        await create(w, payment=payment["id"], amount="0.5", address=SHOP, reason="all")
        listed = (await w.d.call("refund.list", {"payment": payment["id"]}))["result"]
        assert len(listed["refunds"]) == 3
        assert await refunded_units(w, payment["id"]) == units("4")


async def test_a_canceled_refund_frees_its_amount_and_cannot_be_canceled_twice(
    tmp_path: Path, chain: DevChain
) -> None:
    async with refunds_server(tmp_path, chain) as w:
        payment = await paid(w, "1")
        refund = await create(w, payment=payment["id"], amount="1", address=SHOP, reason="x")
        await refused(w, "refund.create", payment=payment["id"], amount="1", reason="again")
        canceled = (await w.d.call("refund.cancel", {"refund": refund["id"]}))["result"]
        assert canceled["status"] == "canceled"
        assert "canceled" in await refused(w, "refund.cancel", refund=refund["id"])
        again = await create(w, payment=payment["id"], amount="1", address=SHOP, reason="y")
        got = (await w.d.call("refund.get", {"refund": refund["id"]}))["result"]
        assert [e["status"] for e in got["events"]] == ["requested", "canceled"]
        assert again["status"] == "requested"


async def test_concurrent_refunds_never_add_up_to_more_than_was_received(
    tmp_path: Path, chain: DevChain
) -> None:
    async with refunds_server(tmp_path, chain) as w:
        payment = await paid(w, "3")
        replies = await asyncio.gather(
            *(
                w.d.call(
                    "refund.create",
                    {"payment": payment["id"], "amount": "1", "address": SHOP, "reason": str(i)},
                )
                for i in range(8)
            )
        )
        assert sum("result" in r for r in replies) == 3
        assert await refunded_units(w, payment["id"]) == units("3")


async def test_an_overpayment_is_refundable_in_full(tmp_path: Path, chain: DevChain) -> None:
    async with refunds_server(tmp_path, chain) as w:
        payment = await paid(w, "1", pay="1.25")
        extra = await create(w, payment=payment["id"], amount="0.25", address=SHOP, reason="over")
        assert extra["amount"] == "0.25"
        await create(w, payment=payment["id"], amount="1", address=SHOP, reason="order canceled")
        await refused(w, "refund.create", payment=payment["id"], amount="0.00000001", reason="x")


async def test_a_fiat_refund_at_the_current_rate_and_at_an_original_rate_it_lacks(
    tmp_path: Path, chain: DevChain
) -> None:
    async with refunds_server(tmp_path, chain) as w:
        payment = await paid(w, "4")  # 0xBTC at 2.5 USD
        refund = await create(
            w,
            payment=payment["id"],
            fiat_amount="2.50",
            currency="USD",
            rate="current",
            address=SHOP,
            reason="price match",
        )
        assert (refund["amount"], refund["fiat_amount"], refund["rate"]) == ("1.0", "2.50", "2.5")
        assert (refund["currency"], refund["rate_kind"]) == ("USD", "current")
        # 1/3 USD does not divide evenly: rounded down, never more than asked
        odd = await create(
            w,
            payment=payment["id"],
            fiat_amount="1",
            currency="USD",
            rate="current",
            address=SHOP,
            reason="odd",
        )
        assert odd["amount"] == "0.4"
        message = await refused(
            w,
            "refund.create",
            payment=payment["id"],
            fiat_amount="1",
            currency="USD",
            reason="x",
        )
        assert "locked rate" in message
        # more fiat than the rest is worth
        assert "more than can still be refunded" in await refused(
            w,
            "refund.create",
            payment=payment["id"],
            fiat_amount="7",
            currency="USD",
            rate="current",
            reason="x",
        )


async def test_a_stray_deposit_is_refundable_in_its_own_asset(
    tmp_path: Path, chain: DevChain
) -> None:
    async with refunds_server(tmp_path, chain) as w:
        payment = await w.pay_request("1")  # a 0xBTC payment, paid in ETH by mistake
        await chain.pay_eth(payment["address"], 10**17)
        await chain.mine(3)
        await w.synced()
        await refused(w, "refund.create", payment=payment["id"], amount="0.1", reason="x")
        refund = await create(
            w, payment=payment["id"], asset="eth", amount="0.1", address=SHOP, reason="wrong coin"
        )
        assert (refund["asset"], refund["stray"], refund["amount"]) == ("eth", True, "0.1")
        assert "0 eth" in await refused(
            w, "refund.create", payment=payment["id"], asset="eth", amount="0.01", reason="x"
        )


async def test_without_an_address_a_claim_link_is_returned_once(
    tmp_path: Path, chain: DevChain
) -> None:
    async with refunds_server(tmp_path, chain) as w:
        payment = await paid(w, "1")
        refund = await create(w, payment=payment["id"], amount="1", reason="order canceled")
        url = refund["claim_url"]
        prefix = f"{w.d.config.public.base_url}/refund/"
        assert url.startswith(prefix) and len(url) - len(prefix) >= 43  # 256 bits, base64url
        assert refund["address"] is None and refund["claim_expires_at"] > refund["created_at"]
        got = (await w.d.call("refund.get", {"refund": refund["id"]}))["result"]
        assert "claim_url" not in got and url.rsplit("/", 1)[1] not in str(got)
        rows = await w.d.runtime.db.fetchall("SELECT * FROM refunds")
        assert url.rsplit("/", 1)[1] not in str([dict(r) for r in rows])  # only its hash


async def test_bad_requests_are_refused_precisely(tmp_path: Path, chain: DevChain) -> None:
    async with refunds_server(tmp_path, chain) as w:
        open_payment = await w.pay_request("1")
        payment = await paid(w, "1")
        pid = payment["id"]
        cases = [
            ({"payment": pid, "amount": "1", "reason": "x", "colour": 1}, "unknown parameter"),
            ({"payment": pid, "reason": "x"}, "either amount"),
            ({"payment": pid, "amount": "1", "fiat_amount": "1", "reason": "x"}, "either amount"),
            ({"payment": pid, "amount": 1, "reason": "x"}, "decimal string"),
            ({"payment": pid, "amount": "0.000000001", "reason": "x"}, "at most 8"),
            ({"payment": pid, "amount": "-1", "reason": "x"}, "decimal string"),
            ({"payment": pid, "amount": "1"}, "reason"),
            ({"payment": pid, "amount": "1", "reason": "x", "address": SHOP.lower()[:-1]}, "0x"),
            (
                {"payment": pid, "amount": "1", "reason": "x", "address": SHOP[:-1] + "e"},
                "checksum",
            ),
            ({"payment": pid, "amount": "1", "reason": "x", "asset": "doge"}, "unknown asset"),
            ({"payment": pid, "amount": "1", "reason": "x", "rate": "best"}, "rate"),
            ({"payment": open_payment["id"], "amount": "1", "reason": "x"}, "no confirmed"),
        ]
        for params, expected in cases:
            reply = await w.d.call("refund.create", params)
            assert reply["error"]["code"] == -32602, (params, reply)
            assert expected in reply["error"]["message"], (params, reply)
        missing = await w.d.call("refund.create", {"payment": "nope", "amount": "1", "reason": "x"})
        assert missing["error"]["code"] == -32004
        assert (await w.d.call("refund.get", {"refund": "rf_nope"}))["error"]["code"] == -32004
        assert await refunded_units(w, pid) == 0


async def test_a_fiat_refund_at_the_rate_the_payment_was_priced_at(
    tmp_path: Path, chain: DevChain
) -> None:
    async with refunds_server(tmp_path, chain) as w:
        # priced at 10 USD for 4 0xBTC (2.5 USD each); today's rate is beside the point
        payment = await w.pay_request("4", fiat={"amount": "10.00", "currency": "USD"})
        await chain.pay_tokens(payment["address"], units("4"))
        await chain.mine(3)
        await w.until(payment["id"], "paid", timeout=60)
        refund = await create(
            w, payment=payment["id"], fiat_amount="2.50", address=SHOP, reason="partial"
        )
        assert (refund["amount"], refund["rate"], refund["rate_kind"]) == ("1.0", "2.5", "original")
        assert refund["currency"] == "USD"
        thirds = await w.pay_request("3", fiat={"amount": "10", "currency": "EUR"})
        await chain.pay_tokens(thirds["address"], units("3"))
        await chain.mine(3)
        await w.until(thirds["id"], "paid", timeout=60)
        # 10/3 EUR per 0xBTC does not terminate: 1 EUR is 0.3 0xBTC, rounded down
        odd = await create(w, payment=thirds["id"], fiat_amount="1", address=SHOP, reason="x")
        assert odd["amount"] == "0.3"
        whole = await create(w, payment=thirds["id"], fiat_amount="9", address=SHOP, reason="y")
        assert whole["amount"] == "2.7"
        assert "priced in EUR" in await refused(
            w, "refund.create", payment=thirds["id"], fiat_amount="1", currency="USD", reason="z"
        )

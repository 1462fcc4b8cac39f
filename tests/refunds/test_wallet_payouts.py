"""refund.approve with ``payouts.method: wallet`` on anvil: the payout hot wallet sends the
refund, the tracker confirms it (payment refunded, postback), limits refuse, concurrent
approvals give one payout, a reorged payout is re-sent and counted once."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path

from tests.chain.watching import units
from tests.fixtures.chain import DevChain
from tests.harness import PostbackReceiver, wait_until
from tests.refunds.kit import (
    create,
    fund,
    paid,
    payout_wallet,
    refund_status,
    refunds_server,
    refused,
    wallet_payouts,
)

CUSTOMER = "0x52908400098527886E0F7030069857D2E4169EE7"


async def test_a_full_refund_is_paid_out_confirmed_and_posted_back(
    tmp_path: Path, chain: DevChain, receiver: PostbackReceiver
) -> None:
    key = payout_wallet()
    async with refunds_server(tmp_path, chain, wallet_payouts(key)) as w:
        await fund(w, key.address)
        payment = await w.pay_request("1.5", postback_url=receiver.url)
        await chain.pay_tokens(payment["address"], units("1.5"))
        await chain.mine(3)
        await w.until(payment["id"], "paid", timeout=60)
        before = await chain.token_balance(CUSTOMER)
        refund = await create(w, payment=payment["id"], amount="1.5", address=CUSTOMER, reason="x")
        approved = (await w.d.call("refund.approve", {"refund": refund["id"]}))["result"]
        assert approved["status"] == "sent" and approved["tx_hash"].startswith("0x")
        await chain.mine(3)
        done = await refund_status(w, refund["id"], "confirmed")
        assert [e["status"] for e in done["events"]] == [
            "requested",
            "approved",
            "sent",
            "confirmed",
        ]
        assert await chain.token_balance(CUSTOMER) - before == units("1.5")
        refunded = await w.until(payment["id"], "refunded")
        assert refunded.amount_refunded == Decimal("1.5")
        await wait_until(
            lambda: any(r["json"].get("status") == "refunded" for r in receiver.received), 30
        )
        again = await refused(w, "refund.approve", refund=refund["id"])
        assert "refund is confirmed" in again


async def test_a_partial_refund_leaves_the_payment_partially_refunded(
    tmp_path: Path, chain: DevChain
) -> None:
    key = payout_wallet()
    async with refunds_server(tmp_path, chain, wallet_payouts(key)) as w:
        await fund(w, key.address)
        payment = await paid(w, "2")
        refund = await create(w, payment=payment["id"], amount="0.5", address=CUSTOMER, reason="x")
        assert "result" in await w.d.call("refund.approve", {"refund": refund["id"]})
        await chain.mine(3)
        await refund_status(w, refund["id"], "confirmed")
        p = await w.until(payment["id"], "partially_refunded")
        assert p.amount_refunded == Decimal("0.5")
        rest = await create(w, payment=payment["id"], amount="1.5", address=CUSTOMER, reason="y")
        assert "result" in await w.d.call("refund.approve", {"refund": rest["id"]})
        await chain.mine(3)
        await refund_status(w, rest["id"], "confirmed")
        assert (await w.until(payment["id"], "refunded")).amount_refunded == Decimal(2)


async def test_payouts_over_their_limits_are_refused_and_send_nothing(
    tmp_path: Path, chain: DevChain
) -> None:
    key = payout_wallet()
    async with refunds_server(tmp_path, chain, wallet_payouts(key, "2", "3")) as w:
        await fund(w, key.address)
        payment = await paid(w, "6")
        big = await create(w, payment=payment["id"], amount="2.5", address=CUSTOMER, reason="x")
        message = await refused(w, "refund.approve", refund=big["id"])
        assert "over payouts.max_per_refund (2.0 0xbtc)" in message
        first = await create(w, payment=payment["id"], amount="2", address=CUSTOMER, reason="a")
        second = await create(w, payment=payment["id"], amount="1.5", address=CUSTOMER, reason="b")
        assert "result" in await w.d.call("refund.approve", {"refund": first["id"]})
        assert "only a refund not yet sent" in await refused(w, "refund.cancel", refund=first["id"])
        message = await refused(w, "refund.approve", refund=second["id"])
        assert "over payouts.daily_limit for 0xbtc: 1.0 0xbtc" in message
        await chain.mine(3)
        await refund_status(w, first["id"], "confirmed")
        assert await chain.token_balance(CUSTOMER) >= units("2")
        for r in (big, second):
            got = (await w.d.call("refund.get", {"refund": r["id"]}))["result"]
            assert (got["status"], got["tx_hash"]) == ("requested", None)


async def test_two_concurrent_approvals_give_one_payout(tmp_path: Path, chain: DevChain) -> None:
    key = payout_wallet()
    async with refunds_server(tmp_path, chain, wallet_payouts(key)) as w:
        await fund(w, key.address)
        payment = await paid(w, "1")
        before = await chain.token_balance(CUSTOMER)
        refund = await create(w, payment=payment["id"], amount="1", address=CUSTOMER, reason="x")
        replies = await asyncio.gather(
            *(w.d.call("refund.approve", {"refund": refund["id"]}) for _ in range(4))
        )
        assert sum("result" in r for r in replies) == 1, replies
        assert all(
            "is approved" in r["error"]["message"] or "is sent" in r["error"]["message"]
            for r in replies
            if "error" in r
        )
        await chain.mine(3)
        await refund_status(w, refund["id"], "confirmed")
        assert await chain.token_balance(CUSTOMER) - before == units("1")
        assert (
            await chain.client.call("eth_getTransactionCount", [key.address, "latest"])
        ) == "0x1"


async def test_a_reorged_payout_is_sent_again_and_counted_once(
    tmp_path: Path, chain: DevChain
) -> None:
    key = payout_wallet()
    async with refunds_server(tmp_path, chain, wallet_payouts(key)) as w:
        await fund(w, key.address)
        payment = await paid(w, "1")
        before = await chain.token_balance(CUSTOMER)
        refund = await create(w, payment=payment["id"], amount="1", address=CUSTOMER, reason="x")
        sent = (await w.d.call("refund.approve", {"refund": refund["id"]}))["result"]

        async def mined() -> bool:
            got = (await w.d.call("refund.get", {"refund": refund["id"]}))["result"]
            return got["block_number"] is not None

        await wait_until(mined, 30)
        await chain.mine(1)
        await chain.reorg(2)  # the payout's block is gone, the transaction dropped

        async def reorged() -> bool:
            got = (await w.d.call("refund.get", {"refund": refund["id"]}))["result"]
            return any(e["status"] == "reorged" for e in got["events"])

        await wait_until(reorged, 30)
        await chain.mine(3)
        done = await refund_status(w, refund["id"], "confirmed")
        assert done["tx_hash"] == sent["tx_hash"]  # the same signed bytes, not a new transfer
        assert await chain.token_balance(CUSTOMER) - before == units("1")
        p = await w.until(payment["id"], "refunded")
        assert p.amount_refunded == Decimal(1)
        assert (await w.events(payment["id"])).count("refunded") == 1

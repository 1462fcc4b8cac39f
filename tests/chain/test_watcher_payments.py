"""Watcher acceptance 1-2: confirmations, partial, under-, over- and late payments (real anvil)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from tests.chain.watching import Clock, units, watching
from tests.fixtures.chain import DevChain
from tests.harness import PostbackReceiver


async def test_seen_at_zero_confirmations_paid_at_exactly_three(
    tmp_path: Path, chain: DevChain, receiver: PostbackReceiver
) -> None:
    async with watching(tmp_path, chain) as w:
        p = await w.pay_request("1.5", postback_url=receiver.url)
        tx = await chain.pay_tokens(p["address"], units("1.5"))
        seen = await w.until(p["id"], "seen")
        assert seen.seen_at is not None and seen.paid_at is None
        assert seen.tx_hash == tx and seen.amount_received == Decimal("1.5")
        block = seen.tx_block
        assert block == await chain.block_number()  # 1 confirmation: its own block
        _, doc = await w.d.status(p["id"])
        assert doc["status"] == "seen" and doc["confirmations"] == 1

        await chain.mine(1)  # 2 confirmations
        await w.synced()
        assert (await w.payment(p["id"])).status.value == "seen"

        await chain.mine(1)  # 3 confirmations
        paid = await w.until(p["id"], "paid")
        assert await chain.block_number() == block + 2
        assert paid.tx_hash == tx and paid.tx_block == block and paid.paid_at is not None
        assert not paid.late and not paid.overpaid

        await receiver.wait_for(1)
        await chain.mine(3)
        await w.synced()
        # A second postback would be queued in the transaction of its event: the queue is
        # the record of every postback, so nothing beyond it can still arrive.
        [queued] = await w.d.runtime.postbacks.search(payment_id=p["id"])
        assert queued.event == "paid"
        assert len(receiver.received) == 1
        body = receiver.received[0]["json"]
        assert body["event"] == "paid" and body["tx_hash"] == tx and body["id"] == p["id"]
        assert await w.events(p["id"]) == ["created", "seen", "paid"]
        _, doc = await w.d.status(p["id"])
        assert doc["status"] == "paid" and doc["confirmations"] == 6 and doc["tx_hash"] == tx


async def test_two_partial_transfers_add_up_and_the_second_pays(
    tmp_path: Path, chain: DevChain
) -> None:
    async with watching(tmp_path, chain) as w:
        p = await w.pay_request("2")
        await chain.pay_tokens(p["address"], units("0.5"))
        first = await w.until(p["id"], "seen")
        assert first.amount_received == Decimal("0.5")
        await chain.mine(5)  # the part alone never pays
        await w.synced()
        assert (await w.payment(p["id"])).status.value == "seen"

        tx2 = await chain.pay_tokens(p["address"], units("1.5"))
        await w.synced()
        topped = await w.payment(p["id"])
        assert topped.status.value == "seen" and topped.amount_received == Decimal(2)
        assert topped.tx_hash == tx2
        await chain.mine(2)
        paid = await w.until(p["id"], "paid")
        assert paid.tx_hash == tx2 and paid.amount_received == Decimal(2) and not paid.overpaid
        assert len(await w.deposits(p["id"])) == 2


async def test_underpaid_payment_expires_showing_what_arrived(
    tmp_path: Path, chain: DevChain
) -> None:
    clock = Clock()
    async with watching(tmp_path, chain, clock=clock) as w:
        p = await w.pay_request("1", expires_in=60)
        await chain.pay_tokens(p["address"], units("0.25"))
        await w.until(p["id"], "seen")
        await chain.mine(3)
        await w.synced()
        clock.advance(61)
        expired = await w.until(p["id"], "expired")
        assert expired.amount_received == Decimal("0.25") and expired.paid_at is None
        await chain.mine(3)
        await w.synced()
        assert (await w.payment(p["id"])).status.value == "expired"
        _, doc = await w.d.status(p["id"])
        assert doc["status"] == "expired" and doc["amount_received"] == "0.25"


async def test_overpaid_payment_is_paid_and_flagged(
    tmp_path: Path, chain: DevChain, receiver: PostbackReceiver
) -> None:
    async with watching(tmp_path, chain) as w:
        p = await w.pay_request("1", postback_url=receiver.url)
        tx = await chain.pay_tokens(p["address"], units("3.125"))
        await chain.mine(2)
        paid = await w.until(p["id"], "paid")
        assert paid.overpaid and paid.amount_received == Decimal("3.125") and paid.tx_hash == tx
        body = (await receiver.wait_for(1))[0]["json"]
        assert body["overpaid"] is True and body["amount_received"] == "3.125"


async def test_late_payment_within_window_is_paid_late_and_reported(
    tmp_path: Path, chain: DevChain, receiver: PostbackReceiver
) -> None:
    clock = Clock()
    async with watching(tmp_path, chain, clock=clock) as w:
        p = await w.pay_request("1", expires_in=60, postback_url=receiver.url)
        clock.advance(61)
        await w.until(p["id"], "expired")
        tx = await chain.pay_tokens(p["address"], units("1"))
        await w.synced()
        waiting = await w.payment(p["id"])
        assert waiting.status.value == "expired" and waiting.amount_received == Decimal(1)
        await chain.mine(2)
        paid = await w.until(p["id"], "paid")
        assert paid.late and paid.tx_hash == tx
        body = (await receiver.wait_for(1))[0]["json"]
        assert body["event"] == "paid" and body["late"] is True and body["tx_hash"] == tx


async def test_funds_after_the_late_window_are_shown_but_never_pay(
    tmp_path: Path, chain: DevChain
) -> None:
    clock = Clock()
    async with watching(tmp_path, chain, {"payments": {"late_window": 100}}, clock=clock) as w:
        p = await w.pay_request("1", expires_in=60)
        clock.advance(61)
        await w.until(p["id"], "expired")
        clock.advance(101)
        await chain.pay_tokens(p["address"], units("1"))
        await chain.mine(3)
        await w.synced()
        after = await w.payment(p["id"])
        assert after.status.value == "expired" and after.amount_received == Decimal(1)
        assert after.paid_at is None and len(await w.deposits(p["id"])) == 1


async def test_finalized_confirmations_wait_for_the_finalized_block(
    tmp_path: Path, chain: DevChain
) -> None:
    async with watching(tmp_path, chain, {"chain": {"confirmations": "finalized"}}) as w:
        p = await w.pay_request("1")
        await chain.pay_tokens(p["address"], units("1"))
        seen = await w.until(p["id"], "seen")
        await chain.mine(60)  # anvil finalizes latest - 64
        await w.synced()
        assert (await w.payment(p["id"])).status.value == "seen"
        await chain.mine(4)
        paid = await w.until(p["id"], "paid")
        finalized = await chain.client.get_block("finalized")
        assert finalized is not None and finalized["number"] == seen.tx_block == paid.tx_block

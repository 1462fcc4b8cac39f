"""Watcher acceptance 3: reorgs before and after the confirmation threshold (anvil_reorg)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from tests.chain.watching import units, watching
from tests.fixtures.chain import DevChain
from tests.harness import PostbackReceiver
from xbtcpay.chain import devchain

OTHER = "0x000000000000000000000000000000000000dEaD"


async def test_reorg_before_threshold_returns_to_new_then_a_new_transfer_pays(
    tmp_path: Path, chain: DevChain, receiver: PostbackReceiver
) -> None:
    async with watching(tmp_path, chain) as w:
        p = await w.pay_request("1.5", postback_url=receiver.url)
        orphaned = await chain.pay_tokens(p["address"], units("1.5"))
        await w.until(p["id"], "seen")
        await chain.mine(1)  # 2 of 3 confirmations
        await w.synced()
        await chain.reorg(2)  # the paying block disappears
        back = await w.until(p["id"], "new")
        assert back.seen_at is None and back.tx_hash is None and back.tx_block is None
        assert back.amount_received == 0 and await w.deposits(p["id"]) == []
        _, doc = await w.d.status(p["id"])
        assert doc["status"] == "new" and doc["seen_at"] is None

        await chain.mine(5)  # the orphan never pays
        await w.synced()
        assert (await w.payment(p["id"])).status.value == "new"

        await chain.pay_eth(OTHER, 1)  # moves the nonce on: a new tx hash
        again = await chain.pay_tokens(p["address"], units("1.5"))
        assert again != orphaned
        await w.until(p["id"], "seen")
        await chain.mine(2)
        paid = await w.until(p["id"], "paid")
        assert paid.tx_hash == again and not paid.reorged
        body = (await receiver.wait_for(1))[0]["json"]
        assert body["tx_hash"] == again
        assert await w.events(p["id"]) == ["created", "seen", "unseen", "seen", "paid"]


async def test_transfer_moved_by_a_reorg_counts_once_in_its_new_block(
    tmp_path: Path, chain: DevChain
) -> None:
    async with watching(tmp_path, chain) as w:
        p = await w.pay_request("2")
        await chain.pay_tokens(p["address"], units("2"))
        first = await w.until(p["id"], "seen")
        await chain.mine(1)
        await w.synced()
        again = {
            "from": chain.payer.address,
            "to": chain.token,
            "gas": hex(100_000),
            "data": devchain.calldata(
                "transfer(address,uint256)", ["address", "uint256"], [p["address"], units("2")]
            ),
        }
        await chain.reorg(2, [(again, 1)])  # re-mined one block later
        await w.synced()
        moved = await w.payment(p["id"])
        assert first.tx_block is not None
        assert moved.status.value == "seen" and moved.tx_block == first.tx_block + 1
        assert moved.tx_hash != first.tx_hash and moved.amount_received == Decimal(2)
        assert len(await w.deposits(p["id"])) == 1
        await chain.mine(1)  # 2 confirmations in its new block
        await w.synced()
        assert (await w.payment(p["id"])).status.value == "seen"
        await chain.mine(1)
        paid = await w.until(p["id"], "paid")
        assert paid.tx_block == first.tx_block + 1 and paid.amount_received == Decimal(2)


async def test_deep_reorg_of_a_paid_payment_is_flagged_and_reported(
    tmp_path: Path, chain: DevChain, receiver: PostbackReceiver
) -> None:
    async with watching(tmp_path, chain) as w:
        await chain.mine(3)  # the reorg stays above the watcher's start (and snapshot)
        p = await w.pay_request("1", postback_url=receiver.url)
        tx = await chain.pay_tokens(p["address"], units("1"))
        await chain.mine(2)
        await w.until(p["id"], "paid")
        await receiver.wait_for(1)
        await chain.reorg(4)  # deeper than 3 confirmations
        await w.synced()
        flagged = await w.payment(p["id"])
        assert flagged.status.value == "paid" and flagged.reorged
        assert flagged.amount_received == 0 and flagged.paid_at is not None
        bodies = [r["json"] for r in await receiver.wait_for(2)]
        assert [b["event"] for b in bodies] == ["paid", "reorged"]
        assert bodies[1]["reorged"] is True and bodies[1]["tx_hash"] == tx
        await chain.mine(3)  # reported once, not on every poll
        await w.synced()
        queued = await w.d.runtime.postbacks.search(payment_id=p["id"])
        assert sorted(r.event for r in queued) == ["paid", "reorged"]  # nothing more to send
        assert len(receiver.received) == 2
        assert (await w.events(p["id"])).count("reorged") == 1

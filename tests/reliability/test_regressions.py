"""Regression tests for the daemon bugs the reliability scenarios exposed (docs/RELIABILITY.md).

Each test is the smallest deterministic replay of what a fuzz run found.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from tests.chain.watching import units, watching
from tests.fixtures.chain import DevChain
from tests.harness import PostbackReceiver, wait_until
from xbtcpay.chain import devchain


async def test_paid_payment_whose_transfer_a_reorg_moved_reports_the_surviving_tx(
    tmp_path: Path, chain: DevChain, receiver: PostbackReceiver
) -> None:
    """Reorg fuzz: a paid payment kept reporting a tx hash that no longer existed.

    A reorg deeper than the confirmations orphaned the paying transfer and re-mined the same
    transfer as another transaction in a later block. The funds never went missing, so no
    ``reorged`` event was due, but ``tx_hash``/``tx_block`` kept naming the orphaned
    transaction (status.json, get_payment). They must follow the surviving transfer.
    """
    async with watching(tmp_path, chain) as w:
        await chain.mine(3)  # the reorg stays above the start
        p = await w.pay_request("1", postback_url=receiver.url)
        orphaned = await chain.pay_tokens(p["address"], units("1"))
        await chain.mine(2)
        paid = await w.until(p["id"], "paid")
        assert paid.tx_hash == orphaned
        again = {
            "from": chain.payer.address,
            "to": chain.token,
            "gas": hex(100_000),
            "data": devchain.calldata(
                "transfer(address,uint256)", ["address", "uint256"], [p["address"], units("1")]
            ),
        }
        await chain.reorg(4, [(again, 3)])  # re-mined in the new head block
        head = await chain.block_number()
        block = await chain.client.get_block(head, full=True)
        assert block is not None
        survivor = next(
            str(t["hash"])
            for t in block["transactions"]
            if str(t["to"]).lower() == chain.token.lower()
        )
        assert survivor != orphaned

        async def followed() -> bool:
            return (await w.payment(p["id"])).tx_hash == survivor

        try:
            await wait_until(followed, timeout=10)  # the tip's height did not change
        except TimeoutError as exc:
            raise AssertionError(
                f"still reports the orphaned tx: {await w.payment(p['id'])}"
            ) from exc
        moved = await w.payment(p["id"])
        assert moved.status.value == "paid" and not moved.reorged
        assert moved.amount_received == Decimal(1)
        assert moved.tx_hash == survivor and moved.tx_block == head
        _, doc = await w.d.status(p["id"])
        assert doc["tx_hash"] == survivor
        assert (await w.events(p["id"])).count("paid") == 1
        assert [r["json"]["event"] for r in receiver.received] == ["paid"]

"""A refunded crypto top-up takes its amount back off the customer's balance, once; a
refund the balance no longer covers is refused unless it was created with ``force``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.chain.watching import Watch, units
from tests.commerce.setup import commerce
from tests.fixtures.chain import DevChain
from tests.harness import deep_merge
from tests.refunds.kit import (
    create,
    fund,
    payout_wallet,
    refund_status,
    refunds_server,
    refused,
    wallet_payouts,
)

CUSTOMER = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"


async def balance(w: Watch, customer: str) -> list[tuple[str, str]]:
    got = (await w.d.call("balance.get", {"customer": customer}))["result"]["balances"]
    return [(b["currency"], b["amount"]) for b in got]


async def top_up(w: Watch, customer: str, amount: str) -> dict[str, Any]:
    reply = await w.d.call("balance.topUpCrypto", {"customer": customer, "amount": amount})
    payment: dict[str, Any] = reply["result"]
    await w.chain.pay_tokens(payment["address"], units(amount))
    await w.chain.mine(3)
    await w.until(payment["id"], "paid", timeout=60)
    return payment


async def test_a_refunded_top_up_debits_the_balance_once(tmp_path: Path, chain: DevChain) -> None:
    key = payout_wallet()
    config = deep_merge(commerce(), wallet_payouts(key))
    async with refunds_server(tmp_path, chain, config) as w:
        await fund(w, key.address)
        payment = await top_up(w, "carol", "2")
        assert await balance(w, "carol") == [("0xbtc", "2.00000000")]
        refund = await create(w, payment=payment["id"], amount="0.5", address=CUSTOMER, reason="a")
        assert "result" in await w.d.call("refund.approve", {"refund": refund["id"]})
        await chain.mine(3)
        await refund_status(w, refund["id"], "confirmed")
        await w.until(payment["id"], "partially_refunded")
        await chain.mine(3)
        await w.synced()  # more rounds of the tracker and the watcher change nothing
        assert await balance(w, "carol") == [("0xbtc", "1.50000000")]
        history = (await w.d.call("balance.history", {"customer": "carol"}))["result"]
        kinds = [e["kind"] for e in history["entries"]]
        assert sorted(kinds) == ["reversal", "top_up"], history

        # carol spends 1.2 of it: the rest of the top-up is no longer covered
        spend = {
            "customer": "carol",
            "currency": "0xbtc",
            "amount": "-1.2",
            "reason": "spent",
            "idempotency_key": "spend-1",
        }
        assert "result" in await w.d.call("balance.adjust", spend)
        rest = await create(w, payment=payment["id"], amount="1.5", address=CUSTOMER, reason="b")
        message = await refused(w, "refund.approve", refund=rest["id"])
        assert "balance (0.3) no longer covers" in message and "force" in message
        assert "result" in await w.d.call("refund.cancel", {"refund": rest["id"]})
        forced = await create(
            w, payment=payment["id"], amount="1.5", address=CUSTOMER, reason="c", force=True
        )
        assert "result" in await w.d.call("refund.approve", {"refund": forced["id"]})
        await chain.mine(3)
        await refund_status(w, forced["id"], "confirmed")
        await w.until(payment["id"], "refunded")
        assert await balance(w, "carol") == [("0xbtc", "-1.20000000")]

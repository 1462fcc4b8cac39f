"""``payouts.method: external``: approval shows an EIP-681 URI and the unsigned transfer;
the merchant pays it from ``payouts.from`` with their own wallet and the tracker recognises
the transfer (token logs, or an ETH transaction), then confirms the refund."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

from tests.chain.watching import units
from tests.fixtures.chain import DevChain
from tests.harness import wait_until
from tests.refunds.kit import create, paid, refund_status, refunds_server

CUSTOMER = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"


def external(chain: DevChain) -> dict[str, Any]:
    return {"payouts": {"method": "external", "from": chain.payer.address}}


async def test_an_external_token_payout_is_recognised_and_confirmed(
    tmp_path: Path, chain: DevChain
) -> None:
    async with refunds_server(tmp_path, chain, external(chain)) as w:
        payment = await paid(w, "2")
        refund = await create(w, payment=payment["id"], amount="0.75", address=CUSTOMER, reason="x")
        approved = (await w.d.call("refund.approve", {"refund": refund["id"]}))["result"]
        assert approved["status"] == "approved" and approved["tx_hash"] is None
        payout = approved["payout"]
        assert payout["uri"] == (
            f"ethereum:{chain.token}@31337/transfer?address={CUSTOMER}&uint256=75000000"
        )
        tx = payout["transaction"]
        assert (tx["from"], tx["to"], tx["value"]) == (
            chain.payer.address.lower(),
            chain.token,
            "0x0",
        )
        assert tx["data"].startswith("0xa9059cbb") and tx["data"].endswith(
            format(units("0.75"), "064x")
        )
        # a transfer of another amount is not the payout
        await chain.pay_tokens(CUSTOMER, units("0.7"))
        await chain.mine(2)
        await w.synced()
        got = (await w.d.call("refund.get", {"refund": refund["id"]}))["result"]
        assert got["status"] == "approved"
        # the merchant signs the shown transaction in their own wallet
        tx_hash = await chain.pay_tokens(CUSTOMER, units("0.75"))
        await wait_until(
            lambda: _status(w, refund["id"], "sent"),
            30,
        )
        await chain.mine(3)
        done = await refund_status(w, refund["id"], "confirmed")
        assert done["tx_hash"] == tx_hash.lower()
        p = await w.until(payment["id"], "partially_refunded")
        assert p.amount_refunded == Decimal("0.75")
        # an approved external refund the merchant has not paid yet can still be canceled
        later = await create(w, payment=payment["id"], amount="1", address=CUSTOMER, reason="y")
        assert "result" in await w.d.call("refund.approve", {"refund": later["id"]})
        canceled = (await w.d.call("refund.cancel", {"refund": later["id"]}))["result"]
        assert canceled["status"] == "canceled"
        assert "refund is confirmed" in str(
            await w.d.call("refund.cancel", {"refund": refund["id"]})
        )


async def _status(w: Any, refund_id: str, status: str) -> bool:
    got = (await w.d.call("refund.get", {"refund": refund_id}))["result"]
    return bool(got["status"] == status)


async def test_an_external_eth_payout_of_a_stray_deposit_is_recognised(
    tmp_path: Path, chain: DevChain
) -> None:
    async with refunds_server(tmp_path, chain, external(chain)) as w:
        payment = await w.pay_request("1")  # 0xBTC asked, ETH sent by mistake
        await chain.pay_eth(payment["address"], 2 * 10**17)
        await chain.mine(3)
        await w.synced()
        refund = await create(
            w, payment=payment["id"], asset="eth", amount="0.2", address=CUSTOMER, reason="coin"
        )
        approved = (await w.d.call("refund.approve", {"refund": refund["id"]}))["result"]
        assert approved["payout"]["uri"] == f"ethereum:{CUSTOMER}@31337?value=200000000000000000"
        tx_hash = await chain.pay_eth(CUSTOMER, 2 * 10**17)
        await chain.mine(3)
        done = await refund_status(w, refund["id"], "confirmed")
        assert done["tx_hash"] == tx_hash.lower()
        assert (await w.payment(payment["id"])).status.value == "new"  # a stray: not its funds

"""A refund as the API and the claim page show it (never its claim token or hash)."""

from __future__ import annotations

from typing import Any

from xbtcpay.chain.eip681 import payment_uri
from xbtcpay.core.settings import AssetConfig
from xbtcpay.refunds.payout import transfer_call
from xbtcpay.refunds.settings import PayoutsConfig
from xbtcpay.storage.refunds import Refund


def refund_json(refund: Refund) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": refund.id,
        "payment": refund.payment_id,
        "status": refund.status,
        "chain": refund.chain,
        "asset": refund.asset,
        "amount": refund.amount,
        "stray": refund.stray,
        "address": refund.address,
        "reason": refund.reason,
        "created_at": refund.created_at,
        "updated_at": refund.updated_at,
        "tx_hash": refund.tx_hash,
        "block_number": refund.block_number,
    }
    if refund.fiat_amount is not None:
        out["fiat_amount"] = refund.fiat_amount
        out["currency"] = refund.currency
        out["rate"] = refund.rate
        out["rate_kind"] = refund.rate_kind
    if refund.claim_expires_at is not None:
        out["claim_expires_at"] = refund.claim_expires_at
        out["claimed_at"] = refund.claimed_at
    if refund.force_debit:
        out["force"] = True
    return out


def external_payout(
    refund: Refund, spec: AssetConfig, payouts: PayoutsConfig, chain_id: int
) -> dict[str, Any]:
    """What the merchant signs in their own wallet: the EIP-681 URI and the unsigned
    transaction (``from`` is ``payouts.from``, where the tracker looks for it)."""
    assert refund.address is not None
    call = transfer_call(spec, refund.address, refund.units)
    return {
        "uri": payment_uri(
            contract=spec.contract,
            native=spec.native,
            chain_id=chain_id,
            address=refund.address,
            units=refund.units,
        ),
        "transaction": {
            "from": payouts.from_address,
            "to": call["to"],
            "value": hex(call["value"]),
            "data": call["data"],
            "chainId": hex(chain_id),
        },
    }

"""A refund as the API and the claim page show it (never its claim token or hash)."""

from __future__ import annotations

from typing import Any

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

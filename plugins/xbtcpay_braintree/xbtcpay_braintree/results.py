"""Translation of Braintree results and transactions into answers and payment events. Pure.

sale / first subscription charge succeeded   -> paid      status "success"
processor declined (e.g. 2000 Do Not Honor)   -> failed    status "failed", reason
gateway rejected (fraud, cvv, avs, ...)       -> failed    status "terminated", reason
validation errors (unknown nonce, ...)        -> failed    status "failed", reason
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from xbtcpay.plugin_api import Event, Payment, PaymentEvent, shortfall

SETTLING = frozenset({"submitted_for_settlement", "settlement_pending", "settling", "settled"})
FAILED = frozenset(
    {"processor_declined", "gateway_rejected", "failed", "settlement_declined", "voided"}
)


@dataclass(frozen=True)
class Outcome:
    """What the shop is told and what happens to our payment."""

    status: str  # success | failed | terminated
    event: PaymentEvent
    transaction_id: str | None = None
    reason: str | None = None

    def answer(self, payment_id: str) -> dict[str, Any]:
        out: dict[str, Any] = {"status": self.status, "id": payment_id}
        if self.transaction_id:
            out["transactionId"] = self.transaction_id
        if self.reason:
            out["reason"] = self.reason
        return out


def decline_reason(tx: Any, message: str | None) -> str:
    """The processor's own words for a failed transaction."""
    if getattr(tx, "status", None) == "gateway_rejected":
        return f"gateway rejected: {getattr(tx, 'gateway_rejection_reason', None) or 'unknown'}"
    text = getattr(tx, "processor_response_text", None)
    return str(text or message or getattr(tx, "status", "failed"))


def paid_event(tx: Any, extra: dict[str, Any] | None = None) -> PaymentEvent:
    """Paid by transaction ``tx`` (submitted for settlement or later)."""
    return PaymentEvent(
        Event.PAID,
        dedupe_key=f"braintree:tx:{tx.id}:paid",
        provider_ref=tx.id,
        amount_received=Decimal(str(tx.amount)),
        extra={
            "braintree_transaction": tx.id,
            "braintree_status": tx.status,
            "braintree_currency": getattr(tx, "currency_iso_code", None),
            **(extra or {}),
        },
    )


def covered(payment: Payment, event: PaymentEvent) -> PaymentEvent:
    """A paid event stays paid only if its transaction's currency and amount pay ``payment``
    (xbtcpay.core.price_rule); otherwise it is reported seen, with the reason."""
    if event.kind != Event.PAID:
        return event
    why = shortfall(payment, event.extra.get("braintree_currency"), event.amount_received)
    return event if why is None else dataclasses.replace(event, kind=Event.SEEN, reason=why)


def failed_event(tx: Any, reason: str, extra: dict[str, Any] | None = None) -> PaymentEvent:
    return PaymentEvent(
        Event.FAILED,
        dedupe_key=f"braintree:tx:{tx.id}:failed",
        provider_ref=tx.id,
        reason=reason,
        extra={
            "braintree_transaction": tx.id,
            "braintree_status": tx.status,
            "processor_response_code": getattr(tx, "processor_response_code", None),
            **(extra or {}),
        },
    )


def charge_outcome(
    result: Any, payment_id: str, tx: Any | None, extra: dict[str, Any] | None = None
) -> Outcome:
    """The outcome of a sale or of a subscription's first charge (``tx`` its transaction)."""
    if result.is_success and tx is not None:
        return Outcome("success", paid_event(tx, extra), tx.id)
    if tx is not None:
        reason = decline_reason(tx, result.message)
        status = "terminated" if tx.status == "gateway_rejected" else "failed"
        return Outcome(status, failed_event(tx, reason, extra), tx.id, reason)
    reason = str(result.message or "refused by Braintree")
    return Outcome("failed", refusal_event(payment_id, reason, extra), None, reason)


def refusal_event(
    payment_id: str, reason: str, extra: dict[str, Any] | None = None
) -> PaymentEvent:
    """Failed before any transaction existed (validation errors, refused credentials)."""
    return PaymentEvent(
        Event.FAILED, dedupe_key=f"braintree:refused:{payment_id}", reason=reason, extra=extra or {}
    )


def transaction_event(tx: Any) -> PaymentEvent | None:
    """The event a transaction's current status implies (reconciliation), if any."""
    if tx.status in SETTLING:
        return paid_event(tx)
    if tx.status in FAILED:
        return failed_event(tx, decline_reason(tx, None))
    return None

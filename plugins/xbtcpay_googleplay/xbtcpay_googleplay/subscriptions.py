"""What a subscription notification means, and how it maps onto payments for now.

The mapping is one small function (``map_onto_payments``) behind ``SubscriptionHandler`` so
a subscription layer can take its place later without touching the notification code.
Every action is checked against the subscription's state as Google's API reports it, never
against the notification alone:

    1 RECOVERED, 2 RENEWED,        the latest order becomes a paid payment (a renewal is a
    4 PURCHASED, 7 RESTARTED       new payment posted back as ``paid``)
    3 CANCELED                     a payment for the period that will not renew: canceled
    5 ON_HOLD                      a payment for the unpaid period: failed
    13 EXPIRED                     a payment for the period after the end: expired
    12 REVOKED                     the latest order's payment: refunded (Google: EXPIRED)
    20 PENDING_PURCHASE_CANCELED   the pending purchase's open payment: canceled
    anything else                  logged
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Final

from xbtcpay.plugin_api import Event, Origin
from xbtcpay_googleplay.ledger import Ledger, void_key
from xbtcpay_googleplay.purchase import Purchase

PAY, CANCEL_PENDING, REVOKE = "pay", "cancel_pending", "revoke"
ACTIONS: Final[dict[int, str]] = {
    1: PAY,
    2: PAY,
    4: PAY,
    7: PAY,
    3: Event.CANCELED.value,
    5: Event.FAILED.value,
    13: Event.EXPIRED.value,
    12: REVOKE,
    20: CANCEL_PENDING,
}
# The state Google must report for a lapse to be recorded.
LAPSE_STATES: Final[dict[str, tuple[str, ...]]] = {
    Event.CANCELED.value: ("SUBSCRIPTION_STATE_CANCELED", "SUBSCRIPTION_STATE_EXPIRED"),
    Event.FAILED.value: ("SUBSCRIPTION_STATE_ON_HOLD",),
    Event.EXPIRED.value: ("SUBSCRIPTION_STATE_EXPIRED",),
}
PAYABLE_STATES: Final = (
    "SUBSCRIPTION_STATE_ACTIVE",
    "SUBSCRIPTION_STATE_IN_GRACE_PERIOD",
    "SUBSCRIPTION_STATE_CANCELED",
)


@dataclass(frozen=True)
class SubscriptionChange:
    """A verified subscription notification with the subscription's current state."""

    message_id: str
    notification_type: int
    purchase: Purchase  # from purchases.subscriptionsv2.get, just fetched
    origin: Origin


SubscriptionHandler = Callable[[SubscriptionChange], Awaitable[str]]


def action_for(notification_type: int) -> str | None:
    """The action a subscription notification type asks for, or None (log only)."""
    return ACTIONS.get(notification_type)


async def map_onto_payments(ledger: Ledger, change: SubscriptionChange) -> str:
    """Apply ``change`` to payments; returns a short outcome for the log."""
    action, purchase = action_for(change.notification_type), change.purchase
    if action == PAY:
        if purchase.state not in PAYABLE_STATES or purchase.order_id is None:
            return "not_payable"
        recorded = await ledger.record(
            purchase, change.origin, {"notificationType": change.notification_type}
        )
        return "duplicate" if recorded.duplicate else "paid"
    if action == REVOKE:
        if purchase.state != "SUBSCRIPTION_STATE_EXPIRED":  # revoking ends access at once
            return "state_mismatch"
        changed = await ledger.refund(purchase.ref, void_key(purchase.ref), "revoked")
        return "refunded" if changed else "unchanged"
    if action == CANCEL_PENDING:
        if purchase.state != "SUBSCRIPTION_STATE_PENDING_PURCHASE_CANCELED":
            return "state_mismatch"
        pending = await ledger.ctx.find_payment(purchase.ref) or await ledger.ctx.find_payment(
            purchase.token
        )
        if pending is None:
            return "unchanged"
        changed = await ledger.cancel(
            pending, f"googleplay:pending_canceled:{purchase.token}", "pending_purchase_canceled"
        )
        return "canceled" if changed else "unchanged"
    if action in LAPSE_STATES:
        if purchase.state not in LAPSE_STATES[action]:
            return "state_mismatch"
        extra = {"notificationType": change.notification_type, "lapse_of": purchase.ref}
        changed = await ledger.lapse(
            purchase, change.origin, Event(action), lapse_ref(action, purchase), action, extra
        )
        return action if changed else "unchanged"
    return "ignored"


def lapse_ref(action: str, purchase: Purchase) -> str:
    """The payment reference of one lapse: the purchase token and the period that lapses (its
    expiry, else its order), never the message that told of it, so Google's repeated
    notifications with new message ids record it once."""
    period = purchase.expiry_time if purchase.expiry_time is not None else purchase.ref
    return f"lapse:{action}:{purchase.token}:{period}"

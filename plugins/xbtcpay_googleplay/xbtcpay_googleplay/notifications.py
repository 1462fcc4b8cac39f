"""Real-time developer notifications: what each one does to payments.

    subscriptionNotification      fetched with subscriptionsv2.get, then the subscription
                                  handler (``subscriptions.map_onto_payments`` for now)
    oneTimeProductNotification    1 PURCHASED: fetched, recorded paid and acknowledged;
                                  2 CANCELED: the pending purchase's payment is canceled
    voidedPurchaseNotification    once Google's API confirms the void, the order's (subscription)
                                  or token's (one-time) payment is refunded; a quantity-based
                                  refund refunds the voided units
    testNotification, other apps  logged

Every step is idempotent (tokens, order ids and messageId-based dedupe keys), so a push
delivered twice, or retried after a crash half-way, changes nothing twice.
"""

from __future__ import annotations

import time

import structlog

from xbtcpay_googleplay.ledger import void_key
from xbtcpay_googleplay.purchase import Refused
from xbtcpay_googleplay.push import Notification
from xbtcpay_googleplay.subscriptions import SubscriptionChange, SubscriptionHandler
from xbtcpay_googleplay.verification import DAY_MS, Verifier

log = structlog.get_logger("xbtcpay.plugins.googleplay")
ONE_TIME_PURCHASED, ONE_TIME_CANCELED = 1, 2
VOIDED_SUBSCRIPTION, PARTIAL_REFUND = 1, 2


async def apply_notification(
    verifier: Verifier,
    on_subscription: SubscriptionHandler,
    n: Notification,
    default_postback: str | None,
) -> str:
    """Apply one authenticated notification; returns a short outcome for the log."""
    if n.token is None or n.type is None:
        return "ignored"
    try:
        if n.kind == "subscription":
            purchase = await verifier.fetch("subscription", n.product_id, n.token)
            verifier.check_test(purchase)
            origin = await verifier.ledger.origin_of(purchase, default_postback)
            outcome = await on_subscription(
                SubscriptionChange(n.message_id, n.type, purchase, origin)
            )
            if outcome == "paid":
                await verifier.acknowledge(purchase)
            return outcome
        if n.kind == "one_time" and n.product_id is not None:
            return await _one_time(verifier, n, default_postback)
        if n.kind == "voided":
            return await _voided(verifier, n)
    except Refused as exc:
        # A genuine notification this shop cannot use (unknown product, test purchase...).
        log.warning(
            "googleplay.notification_unmapped",
            message_id=n.message_id,
            kind=n.kind,
            type=n.type,
            reason=exc.reason,
        )
        return "unmapped"
    return "ignored"


async def _one_time(verifier: Verifier, n: Notification, default_postback: str | None) -> str:
    assert n.token is not None and n.product_id is not None
    ledger = verifier.ledger
    if n.type == ONE_TIME_CANCELED:
        pending = await ledger.ctx.find_payment(n.token)
        if pending is None:
            return "unchanged"
        purchase = await verifier.fetch("product", n.product_id, n.token)
        if purchase.state != "canceled":
            return "state_mismatch"
        changed = await ledger.refund(n.token, f"googleplay:void:{n.token}", "canceled")
        return "canceled" if changed else "unchanged"
    if n.type != ONE_TIME_PURCHASED:
        return "ignored"
    purchase = await verifier.fetch("product", n.product_id, n.token)
    if purchase.state == "pending":
        return "pending"
    origin = await ledger.origin_of(purchase, default_postback)
    recorded = await verifier.settle(purchase, origin)
    return "duplicate" if recorded.duplicate else "paid"


async def _voided(verifier: Verifier, n: Notification) -> str:
    assert n.token is not None
    ref = n.order_id if n.type == VOIDED_SUBSCRIPTION and n.order_id else n.token
    payment = await verifier.ledger.ctx.find_payment(ref)
    if payment is None:
        return "unchanged"
    since = (n.event_ms or int(time.time() * 1000)) - DAY_MS
    if not await verifier.confirms_void(payment, since):
        log.warning("googleplay.void_not_confirmed", message_id=n.message_id)
        return "not_confirmed"
    changed = await refund_void(verifier, ref, n.refund_type == PARTIAL_REFUND, "voided")
    return "refunded" if changed else "unchanged"


async def refund_void(verifier: Verifier, ref: str, partial: bool, reason: str) -> bool:
    """Refund the payment of a voided purchase (push or poll); False when nothing changed."""
    payment = await verifier.ledger.ctx.find_payment(ref)
    if payment is None:
        log.warning("googleplay.void_unknown_purchase", ref_tail=ref[-12:])
        return False
    units = await verifier.refunded_units(payment) if partial else None
    return await verifier.ledger.refund(ref, void_key(ref, units), reason, units)

"""App Store Server Notifications V2: what each notification type does to payments.

    SUBSCRIBED, DID_RENEW,       a paid payment for the (renewal) transaction, unless the
    ONE_TIME_CHARGE              app already validated it
    REFUND, REVOKE               the transaction's payment becomes refunded
    DID_FAIL_TO_RENEW            a renewal payment recorded as failed  (postback "failed")
    EXPIRED                      a renewal payment recorded as expired (postback "expired")
    anything else                logged

Every step is idempotent (transaction ids and notificationUUID-based dedupe keys), so a
notification delivered twice, or retried after a crash half-way, changes nothing twice.
"""

from __future__ import annotations

import structlog

from xbtcpay.plugin_api import Event
from xbtcpay_appstore.ledger import Ledger
from xbtcpay_appstore.purchase import Refused
from xbtcpay_appstore.verify import Notification

log = structlog.get_logger("xbtcpay.plugins.appstore")
PURCHASES = ("SUBSCRIBED", "DID_RENEW", "ONE_TIME_CHARGE")
REFUNDS = ("REFUND", "REVOKE")
LAPSES = {"DID_FAIL_TO_RENEW": Event.FAILED, "EXPIRED": Event.EXPIRED}


async def apply_notification(ledger: Ledger, n: Notification, default_postback: str | None) -> str:
    """Apply one verified notification; returns a short outcome for the log."""
    purchase = n.purchase
    if purchase is None or not (n.type in PURCHASES or n.type in REFUNDS or n.type in LAPSES):
        return "ignored"
    if n.type in REFUNDS:
        reason = purchase.revocation_reason or n.type.lower()
        changed = await ledger.refund(purchase, f"appstore:{n.uuid}", reason)
        return "refunded" if changed else "unchanged"
    origin = await ledger.origin_of(purchase, default_postback)
    try:
        if n.type in PURCHASES:
            extra = {
                "notificationUUID": n.uuid,
                "notificationType": n.type,
                "subtype": n.subtype,
                "renewal": n.type == "DID_RENEW",
            }
            recorded = await ledger.record(purchase, origin, extra)
            return "duplicate" if recorded.duplicate else "paid"
        extra = {"notificationUUID": n.uuid, "notificationType": n.type, "subtype": n.subtype}
        changed = await ledger.lapse(
            purchase, origin, LAPSES[n.type], n.uuid, n.subtype or n.type.lower(), extra
        )
        return LAPSES[n.type].value if changed else "unchanged"
    except Refused as exc:
        # A genuine notification for a product this shop does not sell here: nothing to do.
        log.warning(
            "appstore.notification_unmapped",
            notification_uuid=n.uuid,
            type=n.type,
            reason=exc.reason,
        )
        return "unmapped"

"""Provider payments -> subscription changes, read from the payment event log.

Plugins record renewals, refunds and lapses as payments (App Store DID_RENEW creates a paid
renewal payment, REFUND refunds one, EXPIRED records an expired one; Braintree's
subscription_charged_successfully creates a paid renewal). This bridge reads the append-only
``payment_events`` after a stored cursor and moves the matching subscription, the cursor and
the changes in one transaction: durable across kill -9 and exactly once (dedupe key = the
payment event id).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

import structlog

from xbtcpay.commerce.media_access import granting, pricing, subscription_store
from xbtcpay.commerce.media_access.products import Terms
from xbtcpay.commerce.media_access.subscription import (
    Subscription,
    cancel_at_period_end,
    cancel_now,
    expire,
    renew,
)
from xbtcpay.commerce.media_access.subscription_store import AlreadyApplied, SubPayment
from xbtcpay.core.amounts import to_decimal
from xbtcpay.core.errors import InvalidParams, InvalidTransition
from xbtcpay.core.persistence import Engine, UnitOfWork
from xbtcpay.storage import payment_events

log = structlog.get_logger("xbtcpay.commerce.bridge")
CURSOR = "payment_events"
# the event log's cursor (payment_events.EventCursor): seq, then on PostgreSQL the
# commit-order position (inserting transaction, seq)
_CURSOR_ROWS = (CURSOR, CURSOR + ".xid", CURSOR + ".xid_seq")
# Where each provider's payments name the subscription they belong to.
SUBSCRIPTION_REF = {
    "appstore": "originalTransactionId",
    "braintree": "braintree_subscription",
    "stripe": "stripe_subscription",
    "googleplay": "purchaseToken",
}
# An expired payment records a store's lapse only with the store's expiry notice: App Store
# V2 "EXPIRED", Google Play RTDN 13 (SUBSCRIPTION_EXPIRED); other expiries are unpaid periods.
STORE_EXPIRY_NOTICES = ("EXPIRED", 13)
GOOGLE_PLAY_CANCELED = 3  # RTDN SUBSCRIPTION_CANCELED: no renewal, access until the period ends


def change_of(event: str, extra: Mapping[str, Any]) -> str | None:
    """renewed | terminated | expired for a provider payment event, None to ignore it."""
    renewal = bool(extra.get("renewal") or extra.get("renewal_of"))
    if event == "paid" and renewal:
        return "renewed"
    if event in ("refunded", "charged_back"):
        return "terminated"
    if event == "expired" and extra.get("notificationType") in STORE_EXPIRY_NOTICES:
        return "expired"
    if event == "canceled" and extra.get("notificationType") == GOOGLE_PLAY_CANCELED:
        return "canceled"
    return None


def store_period_end(extra: Mapping[str, Any]) -> int | None:
    """When the store says the paid period ends (App Store ``expiresDate``, Google Play
    ``expiryTime``, both in milliseconds), in seconds; None when it does not say."""
    until = extra.get("expiresDate") or extra.get("expiryTime")
    return until // 1000 if isinstance(until, int) and not isinstance(until, bool) else None


class PaymentBridge:
    def __init__(
        self,
        db: Engine,
        terms: Mapping[str, Terms],
        clock: Callable[[], float] = time.time,
        on_change: Callable[[str], None] | None = None,
    ) -> None:
        self.db = db
        self.terms = terms
        self.clock = clock
        self.on_change = on_change or (lambda customer: None)

    async def run_once(self, limit: int = 500) -> int:
        """Apply the payment events after the cursor; return how many subscriptions moved."""
        now = int(self.clock())

        async def op(conn: UnitOfWork) -> list[str]:
            stored = {
                r["name"]: int(r["seq"])
                for r in await conn.fetchall(
                    "SELECT name, seq FROM subscription_cursor WHERE name IN (?, ?, ?)",
                    _CURSOR_ROWS,
                )
            }
            start = payment_events.EventCursor(*(stored.get(name, 0) for name in _CURSOR_ROWS))
            rows, end = await payment_events.events_after(conn, start, limit)
            moved = [c for r in rows if (c := await self._apply(conn, r, now)) is not None]
            if end != start:
                await conn.executemany(
                    "INSERT INTO subscription_cursor (name, seq) VALUES (?, ?) ON CONFLICT"
                    " (name) DO UPDATE SET seq = excluded.seq",
                    list(zip(_CURSOR_ROWS, (end.seq, end.xid, end.xid_seq), strict=True)),
                )
            return moved

        moved: list[str] = await self.db.transact(op)
        for customer in moved:
            self.on_change(customer)
        return len(moved)

    async def _apply(self, conn: UnitOfWork, row: Any, now: int) -> str | None:
        extra = json.loads(row["extra"] or "{}")
        field = SUBSCRIPTION_REF.get(row["method"])
        ref = extra.get(field) if field else None
        kind = change_of(row["event"], extra)
        if ref is None:
            return None
        found = await conn.fetchone(subscription_store.SELECT_BY_REF, (row["method"], str(ref)))
        if found is None:
            return await self._first_payment(conn, row, str(ref), now)
        if kind is None:
            return None
        sub = subscription_store.row_to_subscription(found)
        if row["customer"] and row["customer"] != sub.customer:
            log.warning(
                "subscription.bridge_customer_mismatch",
                subscription_id=sub.id,
                payment_id=row["payment_id"],
            )
            return None
        rule, payment = self._rule(kind, row, extra, now)
        try:
            after = await subscription_store.change(
                conn,
                sub.id,
                rule,
                {
                    "renewed": "renew",
                    "terminated": "terminate",
                    "expired": "expire",
                    "canceled": "cancel",
                }[kind],
                source=row["method"],
                dedupe_key=f"payment_event:{row['event_id']}",
                payment=payment,
                details={"payment_id": row["payment_id"]},
            )
        except (AlreadyApplied, InvalidTransition, InvalidParams) as exc:
            log.info(
                "subscription.bridge_skipped",
                subscription_id=sub.id,
                change=kind,
                why=type(exc).__name__,
            )
            return None
        log.info(
            "subscription.provider_event",
            subscription_id=sub.id,
            change=kind,
            provider=row["method"],
            valid_until=after.valid_until,
        )
        return sub.customer

    async def _first_payment(self, conn: UnitOfWork, row: Any, ref: str, now: int) -> str | None:
        """A provider's first paid payment of a subscription product with no subscription
        recorded yet (sold through the plugin's own method): the subscription starts."""
        terms = self.terms.get(row["product"] or "")
        if (
            row["event"] != "paid"
            or not row["customer"]
            or terms is None
            or terms.kind != "subscription"
        ):
            return None
        store_until = store_period_end(json.loads(row["extra"] or "{}"))
        sub = granting.active_subscription(
            str(row["customer"]),
            terms,
            provider=str(row["method"]),
            provider_ref=ref,
            premium=terms.premium,
            now=now,
            valid_until=store_until,
            will_renew=True,
        )
        await subscription_store.insert(
            conn, sub, source=str(row["method"]), details={"payment_id": row["payment_id"]}
        )
        currency = str(row["asset"]).upper()
        await subscription_store.add_payment(
            conn,
            sub,
            SubPayment(
                "initial",
                str(row["method"]),
                str(row["provider_ref"] or row["payment_id"]),
                pricing.to_minor(to_decimal(row["amount"]), currency),
                currency,
            ),
        )
        log.info("subscription.started", subscription_id=sub.id, provider=row["method"])
        return sub.customer

    @staticmethod
    def _rule(
        kind: str, row: Any, extra: Mapping[str, Any], now: int
    ) -> tuple[Callable[[Subscription], Subscription], SubPayment | None]:
        if kind == "terminated":
            return (lambda s: cancel_now(s, now, row["event"])), None
        if kind == "expired":
            return (lambda s: expire(s, now)), None
        if kind == "canceled":
            return (lambda s: cancel_at_period_end(s, now, "canceled at the store")), None
        store_until = store_period_end(extra)

        def renewed(s: Subscription) -> Subscription:
            done = renew(s, now)
            if store_until is not None:  # the store says when this period ends
                done = replace(done, valid_until=store_until)
            return done

        currency = str(row["asset"]).upper()
        minor = pricing.to_minor(to_decimal(row["amount"]), currency)
        reference = str(row["provider_ref"] or row["payment_id"])
        return renewed, SubPayment("renewal", str(row["method"]), reference, minor, currency)

"""Turning verified Google Play facts into payments and payment events (idempotently).

A one-time purchase is one payment whose ``provider_ref`` is its purchase token; each paid
period of a subscription is one payment whose ``provider_ref`` is Google's order id (renewals
get new order ids, ``GPA.…..0``, ``..1``). Recording the same token or order again finds that
payment instead of crediting twice.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import structlog

from xbtcpay.core.models import NewPayment, Payment, PaymentEvent
from xbtcpay.core.state import Event, State
from xbtcpay.plugin_api import PluginContext
from xbtcpay_googleplay.amounts import catalog_due, check_covers
from xbtcpay_googleplay.purchase import Purchase, Refused

log = structlog.get_logger("xbtcpay.plugins.googleplay")
CATALOG_FIELD = "googleplay_product_id"


@dataclass(frozen=True)
class Origin:
    """Who a payment belongs to and where its postbacks go."""

    customer: str | None = None
    data: str = "null"
    postback_url: str | None = None
    renewal_of: str | None = None  # our id of the subscription's earlier payment


@dataclass(frozen=True)
class Recorded:
    payment: Payment
    duplicate: bool


class Ledger:
    """Records Google Play purchases, refunds, cancellations and lapses via the plugin context."""

    def __init__(self, ctx: PluginContext) -> None:
        self.ctx = ctx

    def product_of(self, product_id: str) -> str:
        """The catalog product whose ``googleplay_product_id`` is ``product_id``."""
        found = self.ctx.product_by(CATALOG_FIELD, product_id)
        if found is None:
            raise Refused(f"product {product_id} is not in the catalog")
        return found[0]

    async def record(
        self, purchase: Purchase, origin: Origin, extra: Mapping[str, Any] | None = None
    ) -> Recorded:
        """The paid payment of ``purchase``: created once, found afterwards."""
        existing = await self.ctx.find_payment(purchase.ref)
        if existing is not None and existing.status not in (State.NEW, State.SEEN):
            return Recorded(existing, duplicate=True)
        if existing is None:
            existing = await self.open(purchase, origin, purchase.ref, extra)
            if existing.status not in (State.NEW, State.SEEN):
                return Recorded(existing, duplicate=True)
        check_covers(purchase, existing.asset, existing.amount)
        result = await self.ctx.report(
            existing.id,
            PaymentEvent(
                Event.PAID,
                dedupe_key=f"googleplay:paid:{purchase.ref}",
                provider_ref=purchase.ref,
                at=_seconds(purchase.purchase_time),
                extra={**purchase.facts(), **(extra or {})},
            ),
        )
        return Recorded(result.payment, duplicate=result.duplicate)

    async def open(
        self, purchase: Purchase, origin: Origin, ref: str, extra: Mapping[str, Any] | None = None
    ) -> Payment:
        """The open payment for ``ref`` (created from the catalog price when absent)."""
        found = await self.ctx.find_payment(ref)
        if found is not None:
            return found
        product = self.product_of(purchase.product_id)
        currency, amount = catalog_due(self.ctx, product, purchase)
        check_covers(purchase, currency, amount)
        facts = {**purchase.facts(), **(extra or {})}
        if origin.renewal_of:
            facts["renewal_of"] = origin.renewal_of
        new = NewPayment(
            method=self.ctx.name,
            asset=currency,
            amount=amount,
            data=origin.data,
            postback_url=origin.postback_url,
            product=product,
            customer=origin.customer or purchase.account_id,
            provider_ref=ref,
            extra=facts,
        )
        try:
            return await self.ctx.create_payment(new)
        except Exception:
            # Two deliveries of the same purchase raced; the other one created it.
            found = await self.ctx.find_payment(ref)
            if found is None:
                raise
            return found

    async def refund(
        self, ref: str, dedupe_key: str, reason: str, units: int | None = None
    ) -> bool:
        """Refund the payment of ``ref``: all of it, or ``units`` of its quantity so far."""
        payment = await self.ctx.find_payment(ref)
        if payment is None:
            log.warning("googleplay.refund_unknown_purchase", ref_tail=ref[-12:])
            return False
        if payment.status in (State.NEW, State.SEEN):
            return await self.cancel(payment, dedupe_key, reason)
        quantity = int(payment.extra.get("quantity") or 1)
        kind, amount = Event.REFUNDED, payment.amount
        if units is not None and 0 < units < quantity:
            kind = Event.PARTIALLY_REFUNDED
            amount = payment.amount * units / quantity
        result = await self.ctx.report(
            payment.id,
            PaymentEvent(
                kind, dedupe_key=dedupe_key, amount_refunded=Decimal(amount), reason=reason
            ),
        )
        return result.changed

    async def cancel(self, payment: Payment, dedupe_key: str, reason: str) -> bool:
        """A purchase that never completed (pending, then canceled)."""
        result = await self.ctx.report(
            payment.id, PaymentEvent(Event.CANCELED, dedupe_key=dedupe_key, reason=reason)
        )
        return result.changed

    async def lapse(
        self,
        purchase: Purchase,
        origin: Origin,
        kind: Event,
        ref: str,
        reason: str,
        extra: Mapping[str, Any],
    ) -> bool:
        """Record a period that will not be paid (canceled / on hold / expired) as a payment."""
        payment = await self.open(purchase, origin, ref, extra)
        result = await self.ctx.report(
            payment.id,
            PaymentEvent(kind, dedupe_key=f"googleplay:{kind.value}:{ref}", reason=reason),
        )
        return result.changed

    async def origin_of(self, purchase: Purchase, fallback_postback: str | None) -> Origin:
        """Owner of the purchase's earlier payment (a renewal's first order, a pending
        purchase), so payments recorded from notifications reach the same shop account."""
        refs = [purchase.ref]
        if purchase.order_id and ".." in purchase.order_id:
            refs.append(purchase.order_id.split("..")[0])  # GPA.x..N renews GPA.x
        for ref in refs:
            earlier = await self.ctx.find_payment(ref)
            if earlier is not None:
                renewal_of = earlier.id if ref != purchase.ref else None
                return Origin(
                    earlier.customer,
                    earlier.data,
                    earlier.postback_url or fallback_postback,
                    renewal_of,
                )
        return Origin(postback_url=fallback_postback)


def void_key(ref: str, units: int | None = None) -> str:
    """The dedupe key of a void, the same whichever way (push, poll, revoke) it arrives."""
    return f"googleplay:void:{ref}" + (f":{units}" if units else "")


def _seconds(ms: int | None) -> int | None:
    return None if ms is None else int(ms) // 1000

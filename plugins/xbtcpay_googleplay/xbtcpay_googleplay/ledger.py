"""Turning verified Google Play facts into payments and payment events (idempotently).

A one-time purchase is one payment whose ``provider_ref`` is its purchase token; each paid
period of a subscription is one payment whose ``provider_ref`` is Google's order id (renewals
get new order ids, ``GPA.…..0``, ``..1``). Recording the same token or order again finds that
payment instead of crediting twice.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from decimal import Decimal
from typing import Any

import structlog

from xbtcpay.plugin_api import (
    OPEN_STATES,
    Due,
    Event,
    Origin,
    Payment,
    PaymentEvent,
    State,
    StoreLedger,
    epoch_seconds,
)
from xbtcpay_googleplay.amounts import catalog_due, check_covers
from xbtcpay_googleplay.purchase import Purchase, Refused

log = structlog.get_logger("xbtcpay.plugins.googleplay")
CATALOG_FIELD = "googleplay_product_id"


class Ledger(StoreLedger[Purchase]):
    """Records Google Play purchases, refunds, cancellations and lapses via the plugin context.

    A pending purchase's payment is seen, and still paid once Google says it completed.
    """

    payable = OPEN_STATES

    def product_of(self, product_id: str) -> str:
        """The catalog product whose ``googleplay_product_id`` is ``product_id``."""
        found = self.ctx.product_by(CATALOG_FIELD, product_id)
        if found is None:
            raise Refused(f"product {product_id} is not in the catalog")
        return found[0]

    def ref_of(self, purchase: Purchase) -> str:
        return purchase.ref

    def due(self, purchase: Purchase, facts: Mapping[str, Any]) -> Due:
        """The catalog price of the purchase's product, which Google's price must cover."""
        product = self.product_of(purchase.product_id)
        currency, amount = catalog_due(self.ctx, product, purchase)
        check_covers(purchase, currency, amount)
        return Due(product, currency, amount, facts)

    def paid(self, payment: Payment, purchase: Purchase, facts: Mapping[str, Any]) -> PaymentEvent:
        """Paid, once Google's price is seen to cover ``payment`` (Refused otherwise)."""
        check_covers(purchase, payment.asset, payment.amount)
        return PaymentEvent(
            Event.PAID,
            dedupe_key=f"googleplay:paid:{purchase.ref}",
            provider_ref=purchase.ref,
            at=epoch_seconds(purchase.purchase_time),
            extra=facts,
        )

    def owner(self, origin: Origin, purchase: Purchase) -> Origin:
        """A payment without a shop customer belongs to the purchase's Google account."""
        return replace(origin, customer=origin.customer or purchase.account_id)

    def lapse_key(self, kind: Event, ref: str) -> str:
        return f"googleplay:{kind.value}:{ref}"

    def earlier_refs(self, purchase: Purchase) -> tuple[str, ...]:
        """A subscription's token (a pending purchase) and first order (``GPA.x`` of a
        renewal ``GPA.x..N``): a renewal belongs to whoever recorded those."""
        if purchase.kind != "subscription":
            return ()
        refs = [purchase.token]
        if purchase.order_id and ".." in purchase.order_id:
            refs.append(purchase.order_id.split("..")[0])
        return tuple(r for r in refs if r != purchase.ref)

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

    async def origin_of(self, purchase: Purchase, fallback_postback: str | None) -> Origin:
        """Owner of the purchase's earlier payment (a renewal's first order, a pending
        purchase), so payments recorded from notifications reach the same shop account."""
        refs = [purchase.ref]
        if purchase.order_id and ".." in purchase.order_id:
            refs.append(purchase.order_id.split("..")[0])  # GPA.x..N renews GPA.x
        return await self.earlier_origin(refs, fallback_postback, own_ref=purchase.ref)


def void_key(ref: str, units: int | None = None) -> str:
    """The dedupe key of a void, the same whichever way (push, poll, revoke) it arrives."""
    return f"googleplay:void:{ref}" + (f":{units}" if units else "")

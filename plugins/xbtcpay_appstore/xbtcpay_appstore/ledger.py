"""Turning verified App Store facts into payments and payment events (idempotently).

A purchase becomes one payment whose ``provider_ref`` is Apple's transactionId: recording
the same transaction again finds that payment instead of crediting twice.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

import structlog

from xbtcpay.core.errors import InvalidParams
from xbtcpay.core.models import NewPayment, Payment, PaymentEvent
from xbtcpay.core.price_rule import shortfall
from xbtcpay.core.state import Event, State
from xbtcpay.plugin_api import PluginContext
from xbtcpay_appstore.purchase import Purchase, Refused

log = structlog.get_logger("xbtcpay.plugins.appstore")


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
    """Records App Store purchases, refunds and lapsed renewals through the plugin context."""

    def __init__(self, ctx: PluginContext, products: Mapping[str, str]) -> None:
        self.ctx = ctx
        self.products = products  # Apple productId -> catalog product name

    async def record(
        self, purchase: Purchase, origin: Origin, extra: Mapping[str, Any] | None = None
    ) -> Recorded:
        """The paid payment of ``purchase``: created once, found afterwards."""
        existing = await self.ctx.find_payment(purchase.transaction_id)
        if existing is not None and existing.status != State.NEW:
            return Recorded(existing, duplicate=True)
        if existing is None:
            existing = await self._create(
                purchase, origin, purchase.transaction_id, {**purchase.facts(), **(extra or {})}
            )
            if existing.status != State.NEW:
                return Recorded(existing, duplicate=True)
        result = await self.ctx.report(existing.id, self._paid(existing, purchase))
        return Recorded(result.payment, duplicate=result.duplicate)

    def _paid(self, payment: Payment, purchase: Purchase) -> PaymentEvent:
        """Paid, unless Apple's stated price does not pay ``payment`` (xbtcpay.core.price_rule).

        A legacy receipt states no price: Apple's signature over the product id is the proof,
        and the payment's amount is the catalog price of that product.
        """
        event = PaymentEvent(
            Event.PAID,
            dedupe_key=f"appstore:tx:{purchase.transaction_id}",
            provider_ref=purchase.transaction_id,
            at=_seconds(purchase.purchase_date),
        )
        if purchase.price is None and not purchase.currency:
            return event
        charged = None if purchase.price is None else purchase.price * purchase.quantity
        why = shortfall(payment, purchase.currency, charged)
        if why is None:
            return event
        log.error(
            "appstore.charge_does_not_pay",
            payment_id=payment.id,
            reason=why,
            transaction_id=purchase.transaction_id,
        )
        return replace(event, kind=Event.SEEN, reason=why)

    async def refund(self, purchase: Purchase, dedupe_key: str, reason: str) -> bool:
        """Mark the payment of a refunded/revoked transaction refunded; False if none changed."""
        payment = await self.ctx.find_payment(purchase.transaction_id)
        if payment is None:
            log.warning(
                "appstore.refund_unknown_transaction", transaction_id=purchase.transaction_id
            )
            return False
        result = await self.ctx.report(
            payment.id,
            PaymentEvent(
                Event.REFUNDED,
                dedupe_key=dedupe_key,
                amount_refunded=payment.amount,
                reason=reason,
                at=_seconds(purchase.revocation_date),
            ),
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
        """Record a renewal that did not happen (expired / billing failed) as its own payment."""
        payment = await self.ctx.find_payment(ref)
        if payment is None:
            payment = await self._create(purchase, origin, ref, {**purchase.facts(), **extra})
        result = await self.ctx.report(
            payment.id, PaymentEvent(kind, dedupe_key=f"appstore:{ref}", reason=reason)
        )
        return result.changed

    async def origin_of(self, purchase: Purchase, fallback_postback: str | None) -> Origin:
        """Owner of a subscription's earlier payment, so renewals reach the same shop account."""
        for ref in (purchase.original_transaction_id, purchase.transaction_id):
            earlier = await self.ctx.find_payment(ref)
            if earlier is not None:
                return Origin(
                    earlier.customer,
                    earlier.data,
                    earlier.postback_url or fallback_postback,
                    earlier.id,
                )
        return Origin(postback_url=fallback_postback)

    def product_of(self, purchase: Purchase) -> str:
        name = self.products.get(purchase.product_id)
        if name is None:
            raise Refused(f"product {purchase.product_id} is not in the catalog")
        return name

    async def _create(
        self, purchase: Purchase, origin: Origin, ref: str, extra: Mapping[str, Any]
    ) -> Payment:
        product = self.product_of(purchase)
        currency, amount = self._amount(purchase, product)
        if origin.renewal_of:
            extra = {**extra, "renewal_of": origin.renewal_of}
        new = NewPayment(
            method=self.ctx.name,
            asset=currency,
            amount=amount,
            data=origin.data,
            postback_url=origin.postback_url,
            product=product,
            customer=origin.customer,
            provider_ref=ref,
            extra=extra,
        )
        try:
            return await self.ctx.create_payment(new)
        except Exception:
            # Two deliveries of the same transaction raced; the other one created it.
            found = await self.ctx.find_payment(ref)
            if found is None:
                raise
            return found

    def _amount(self, purchase: Purchase, product: str) -> tuple[str, Decimal]:
        """What the buyer paid: Apple's price when it says, else the catalog price."""
        if purchase.price is not None and purchase.currency:
            return purchase.currency.upper(), purchase.price * purchase.quantity
        try:
            currency, amount = self.ctx.price(product, None, None)
        except InvalidParams as exc:
            raise Refused(f"product {product} has no fixed catalog price") from exc
        return currency, Decimal(amount) * purchase.quantity


def _seconds(ms: int | None) -> int | None:
    return None if ms is None else int(ms) // 1000

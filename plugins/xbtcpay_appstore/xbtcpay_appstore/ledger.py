"""Turning verified App Store facts into payments and payment events (idempotently).

A purchase becomes one payment whose ``provider_ref`` is Apple's transactionId: recording
the same transaction again finds that payment instead of crediting twice.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from decimal import Decimal
from typing import Any

import structlog

from xbtcpay.plugin_api import (
    Due,
    Event,
    InvalidParams,
    Origin,
    Payment,
    PaymentEvent,
    PluginContext,
    StoreLedger,
    epoch_seconds,
    shortfall,
)
from xbtcpay_appstore.purchase import Purchase, Refused

log = structlog.get_logger("xbtcpay.plugins.appstore")


class Ledger(StoreLedger[Purchase]):
    """Records App Store purchases, refunds and lapsed renewals through the plugin context.

    A payment Apple's price did not pay stays seen: a second delivery changes nothing, so
    only a new payment is payable.
    """

    def __init__(self, ctx: PluginContext, products: Mapping[str, str]) -> None:
        super().__init__(ctx)
        self.products = products  # Apple productId -> catalog product name

    def ref_of(self, purchase: Purchase) -> str:
        return purchase.transaction_id

    def paid(self, payment: Payment, purchase: Purchase, facts: Mapping[str, Any]) -> PaymentEvent:
        """Paid, unless Apple's stated price does not pay ``payment`` (``shortfall``).

        A legacy receipt states no price: Apple's signature over the product id is the proof,
        and the payment's amount is the catalog price of that product. ``amount_received`` is
        what Apple charged (its price times the quantity) when stated in the payment's
        currency, else the payment's amount, so a shop comparing it with ``amount`` sees the
        payment covered.
        """
        event = PaymentEvent(
            Event.PAID,
            dedupe_key=f"appstore:tx:{purchase.transaction_id}",
            provider_ref=purchase.transaction_id,
            at=epoch_seconds(purchase.purchase_date),
            amount_received=payment.amount,
        )
        if purchase.price is None and not purchase.currency:
            return event
        charged = None if purchase.price is None else purchase.price * purchase.quantity
        why = shortfall(payment, purchase.currency, charged)
        if why is None:
            return replace(event, amount_received=charged)
        if charged is None or (purchase.currency or "").upper() != payment.asset.upper():
            event = replace(event, amount_received=None)  # not a sum in the payment's currency
        else:
            event = replace(event, amount_received=charged)
        log.error(
            "appstore.charge_does_not_pay",
            payment_id=payment.id,
            reason=why,
            transaction_id=purchase.transaction_id,
        )
        return replace(event, kind=Event.SEEN, reason=why)

    def lapse_key(self, kind: Event, ref: str) -> str:
        return f"appstore:{ref}"

    def earlier_refs(self, purchase: Purchase) -> tuple[str, ...]:
        """A renewal's subscription began with its original transaction."""
        original = purchase.original_transaction_id
        return (original,) if original and original != purchase.transaction_id else ()

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
                at=epoch_seconds(purchase.revocation_date),
            ),
        )
        return result.changed

    async def origin_of(self, purchase: Purchase, fallback_postback: str | None) -> Origin:
        """Owner of a subscription's earlier payment, so renewals reach the same shop account."""
        refs = (purchase.original_transaction_id, purchase.transaction_id)
        return await self.earlier_origin(refs, fallback_postback)

    def product_of(self, purchase: Purchase) -> str:
        name = self.products.get(purchase.product_id)
        if name is None:
            raise Refused(f"product {purchase.product_id} is not in the catalog")
        return name

    def due(self, purchase: Purchase, facts: Mapping[str, Any]) -> Due:
        product = self.product_of(purchase)
        currency, amount = self._amount(purchase, product)
        return Due(product, currency, amount, facts)

    def _amount(self, purchase: Purchase, product: str) -> tuple[str, Decimal]:
        """What the buyer paid: Apple's price when it says, else the catalog price."""
        if purchase.price is not None and purchase.currency:
            return purchase.currency.upper(), purchase.price * purchase.quantity
        try:
            currency, amount = self.ctx.price(product, None, None)
        except InvalidParams as exc:
            raise Refused(f"product {product} has no fixed catalog price") from exc
        return currency, Decimal(amount) * purchase.quantity

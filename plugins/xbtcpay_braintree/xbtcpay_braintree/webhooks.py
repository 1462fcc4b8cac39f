"""Braintree webhook notifications, verified by the SDK, applied to payments.

subscription_charged_successfully    a new paid renewal payment (copies the first one)
subscription_charged_unsuccessfully  a new failed renewal payment, reason from processor
subscription_went_past_due           the failed renewal (same transaction: one payment)
subscription_canceled                the subscription stops renewing (access to its end);
                                     payments already made stay as they are
subscription_expired                 the subscription expired
transaction_settled                  paid (no change when already paid)
transaction_settlement_declined      failed when still open, else charged_back
dispute_opened / _won / _lost        disputed / dispute_won / charged_back
"""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import structlog

from xbtcpay.plugin_api import OPEN_STATES, Event, NewPayment, Payment, PaymentEvent, PluginContext
from xbtcpay_braintree.gateway import BraintreeClient
from xbtcpay_braintree.results import covered, transaction_event

log = structlog.get_logger("xbtcpay.braintree")
SUBSCRIPTION_CHARGES = frozenset(
    {
        "subscription_charged_successfully",
        "subscription_charged_unsuccessfully",
        "subscription_went_past_due",
    }
)
# Braintree stops billing a canceled subscription; what was paid runs to its end.
SUBSCRIPTION_ENDS = {"subscription_canceled": "canceled", "subscription_expired": "expired"}
DISPUTES = {
    "dispute_opened": Event.DISPUTED,
    "dispute_won": Event.DISPUTE_WON,
    "dispute_lost": Event.CHARGED_BACK,
}


class Notifications:
    """Applies verified notifications; each handler answers what happened."""

    def __init__(self, name: str, ctx: PluginContext, client: BraintreeClient) -> None:
        self.name = name
        self.ctx = ctx
        self.client = client
        self._renewals = asyncio.Lock()

    async def handle(self, n: Any) -> str:
        kind = str(n.kind)
        if kind in SUBSCRIPTION_CHARGES:
            return await self._subscription_charge(n.subscription)
        if kind in SUBSCRIPTION_ENDS:
            sub_id = str(n.subscription.id)
            log.info("braintree." + kind, subscription_id=sub_id)
            changed = await self.ctx.subscription_event(
                sub_id, SUBSCRIPTION_ENDS[kind], event_id=f"{kind}:{sub_id}"
            )
            return "applied" if changed else "recorded"
        if kind in ("transaction_settled", "transaction_settlement_declined"):
            return await self._settlement(n.transaction, kind == "transaction_settled")
        if kind in DISPUTES:
            return await self._dispute(n.dispute, DISPUTES[kind])
        return "ignored"

    async def _report(self, payment: Payment, event: PaymentEvent) -> str:
        result = await self.ctx.report(payment.id, covered(payment, event))
        return "duplicate" if result.duplicate else "applied" if result.changed else "refused"

    async def _subscription_charge(self, sub: Any) -> str:
        transactions = list(getattr(sub, "transactions", None) or [])
        if not transactions:
            return "ignored"
        newest = transactions[0]
        event = transaction_event(newest)
        if event is None:
            return "ignored"
        payment = await self.ctx.find_payment(newest.id)
        if payment is None:
            original = await self._original(sub, newest.id, transactions[1:])
            if original is None:
                return "unknown_subscription"
            payment = await self._renewal(original, sub, newest)
        return await self._report(payment, event)

    async def _original(self, sub: Any, newest_id: str, older: list[Any]) -> Payment | None:
        """A payment of this subscription: by its older transactions, else ask Braintree."""
        for tx in reversed(older):
            found = await self.ctx.find_payment(tx.id)
            if found is not None:
                return found
        fetched = await self.client.find_subscription(str(sub.id))
        for tx in reversed(list(getattr(fetched, "transactions", None) or [])):
            found = await self.ctx.find_payment(tx.id) if tx.id != newest_id else None
            if found is not None:
                return found
        return None

    async def _renewal(self, original: Payment, sub: Any, tx: Any) -> Payment:
        """The payment of a renewal charge (created once per transaction)."""
        async with self._renewals:
            again = await self.ctx.find_payment(tx.id)
            if again is not None:
                return again
            first = str(original.extra.get("renewal_of") or original.id)
            payment = await self.ctx.create_payment(
                NewPayment(
                    method=self.name,
                    asset=str(getattr(tx, "currency_iso_code", None) or original.asset),
                    amount=Decimal(str(tx.amount)),
                    data=original.data,
                    postback_url=original.postback_url,
                    postback_events=original.postback_events,
                    product=original.product,
                    customer=original.customer,
                    provider_ref=tx.id,
                    extra={"braintree_subscription": str(sub.id), "renewal_of": first},
                )
            )
        log.info(
            "braintree.renewal",
            payment_id=payment.id,
            renewal_of=first,
            subscription_id=str(sub.id),
            transaction_id=tx.id,
        )
        return payment

    async def _settlement(self, tx: Any, settled: bool) -> str:
        payment = await self.ctx.find_payment(tx.id)
        if payment is None:
            return "unknown_payment"
        if settled:
            event = transaction_event(tx)
            return await self._report(payment, event) if event is not None else "ignored"
        kind = Event.FAILED if payment.status in OPEN_STATES else Event.CHARGED_BACK
        return await self._report(
            payment,
            PaymentEvent(
                kind,
                dedupe_key=f"braintree:tx:{tx.id}:settlement_declined",
                reason="settlement declined",
                extra={"braintree_status": tx.status},
            ),
        )

    async def _dispute(self, dispute: Any, kind: Event) -> str:
        tx_id = getattr(getattr(dispute, "transaction", None), "id", None)
        payment = await self.ctx.find_payment(str(tx_id)) if tx_id else None
        if payment is None:
            return "unknown_payment"
        return await self._report(
            payment,
            PaymentEvent(
                kind,
                dedupe_key=f"braintree:dispute:{dispute.id}:{kind.value}",
                reason=getattr(dispute, "reason", None),
                extra={"braintree_dispute": dispute.id},
            ),
        )

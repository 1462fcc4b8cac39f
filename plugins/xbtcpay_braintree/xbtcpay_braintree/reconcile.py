"""The reconciliation job: sales whose outcome was unknown are looked up by order id.

A sale that timed out (or met a 5xx) may still have been charged. Every sale carries our
payment id as its ``order_id``; open payments older than ``reconcile_after`` seconds are
searched for and reported exactly as the answer would have been.
"""

from __future__ import annotations

import time

import structlog

from xbtcpay.plugin_api import Payment, PluginContext
from xbtcpay_braintree.gateway import BraintreeClient, GatewayError
from xbtcpay_braintree.results import covered, transaction_event

log = structlog.get_logger("xbtcpay.braintree")


class Reconciler:
    """Heals sales whose answer was lost."""

    def __init__(self, ctx: PluginContext, client: BraintreeClient, *, min_age: float) -> None:
        self.ctx = ctx
        self.client = client
        self.min_age = min_age

    async def run(self) -> None:
        """One pass over open one-off Braintree payments old enough to be in doubt."""
        horizon = time.time() - self.min_age
        for payment in await self.ctx.pending_payments():
            if payment.created_at > horizon or payment.extra.get("braintree_plan"):
                continue
            try:
                await self.reconcile(payment)
            except GatewayError as exc:
                log.warning("braintree.reconcile_failed", payment_id=payment.id, error=exc.detail)

    async def reconcile(self, payment: Payment) -> str:
        """Report the newest transaction with our payment id as its order id."""
        transactions = await self.client.transactions_for_order(payment.id)
        if not transactions:
            return "no_transaction"
        newest = max(transactions, key=lambda tx: getattr(tx, "created_at", 0) or 0)
        event = transaction_event(newest)
        if event is None:
            return "pending"
        result = await self.ctx.report(payment.id, covered(payment, event))
        log.info(
            "braintree.reconciled",
            payment_id=payment.id,
            transaction_id=newest.id,
            reported=event.kind.value,
            changed=result.changed,
        )
        return "applied" if result.changed else "unchanged"

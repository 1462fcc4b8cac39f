"""The reconciliation job: open Stripe payments are re-read from the API.

A webhook can be lost (endpoint down for longer than Stripe retries, wrong secret after a
rotation). Every ``reconcile_interval`` seconds each open payment's Checkout Session is
fetched; a paid session is reported paid, an expired one expired, exactly as the webhook
would have done. Reports carry their own dedupe keys, so a late webhook changes nothing.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import stripe
import structlog

from xbtcpay.plugin_api import Event, Payment, PaymentEvent, PluginContext
from xbtcpay_stripe.events import Fact, completed_kind, session_fact

log = structlog.get_logger("xbtcpay.stripe")
# Sessions are looked up by creation time around the payment's own creation time.
SEARCH_WINDOW = 600
MAX_PAGES = 10
# A payment whose session cannot be found this long after creation never had one.
ORPHAN_AFTER = 25 * 3600


class Reconciler:
    """Heals payments whose webhooks were lost."""

    def __init__(
        self,
        client: stripe.StripeClient,
        ctx: PluginContext,
        sessions: dict[str, str],
        apply: Callable[[Fact], Awaitable[str]],
        *,
        min_age: float,
    ) -> None:
        self.client = client
        self.ctx = ctx
        self.sessions = sessions
        self.apply = apply
        self.min_age = min_age

    async def run(self) -> None:
        """One pass over the open Stripe payments old enough to have missed a webhook."""
        horizon = time.time() - self.min_age
        for payment in await self.ctx.pending_payments():
            if payment.created_at > horizon:
                continue
            try:
                await self.reconcile(payment)
            except stripe.StripeError as exc:
                log.warning(
                    "stripe.reconcile_failed", payment_id=payment.id, error=type(exc).__name__
                )

    async def reconcile(self, payment: Payment) -> str:
        """Bring one payment in line with its session; returns what happened."""
        session = await self._session_of(payment)
        if session is None:
            if time.time() - payment.created_at > ORPHAN_AFTER:
                await self.ctx.report(
                    payment.id,
                    PaymentEvent(
                        Event.EXPIRED,
                        dedupe_key=f"stripe:orphan:{payment.id}",
                        reason="no checkout session",
                    ),
                )
                return "orphan_expired"
            return "no_session"
        self.sessions[payment.id] = str(session["id"])
        kind = completed_kind(session)
        if kind is None or (kind == Event.SEEN and payment.status.value == "seen"):
            return "open"
        fact = session_fact(session, kind, f"stripe:reconcile:{session['id']}:{kind.value}")
        outcome = await self.apply(fact)
        log.info(
            "stripe.reconciled",
            payment_id=payment.id,
            session_id=session["id"],
            reported=kind.value,
            outcome=outcome,
        )
        return outcome

    async def session_of(self, payment: Payment) -> Mapping[str, Any] | None:
        """The payment's Checkout Session as Stripe reports it now (None: none found)."""
        return await self._session_of(payment)

    async def _session_of(self, payment: Payment) -> Mapping[str, Any] | None:
        known = self.sessions.get(payment.id)
        if known is not None:
            found = await self.client.v1.checkout.sessions.retrieve_async(known)
            return found.to_dict()
        return await self._search(payment)

    async def _search(self, payment: Payment) -> Mapping[str, Any] | None:
        """Find the session by creation time and client_reference_id (after a restart)."""
        params: dict[str, Any] = {
            "limit": 100,
            "created": {
                "gte": payment.created_at - SEARCH_WINDOW,
                "lte": payment.created_at + SEARCH_WINDOW,
            },
        }
        for _ in range(MAX_PAGES):
            page = await self.client.v1.checkout.sessions.list_async(params=params)  # type: ignore[arg-type]
            rows = [s.to_dict() for s in page.data]
            for row in rows:
                if row.get("client_reference_id") == payment.id:
                    return row
            if not page.has_more or not rows:
                return None
            params["starting_after"] = rows[-1]["id"]
        return None

"""The Stripe plugin: Checkout Sessions, the signed webhook, and the reconciliation job."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping
from typing import Any

import stripe
import structlog
from aiohttp import web

from xbtcpay.plugin_api import (
    PLUGIN_API_VERSION,
    CallContext,
    ChargeRequest,
    ChargeResult,
    Event,
    InvalidParams,
    NewPayment,
    Payment,
    PaymentEvent,
    PluginContext,
    ProviderError,
    shortfall,
)
from xbtcpay_stripe import charges
from xbtcpay_stripe.checkout import idempotency_key, parse_request, session_params
from xbtcpay_stripe.events import Fact, fact_of, from_the_future
from xbtcpay_stripe.money import from_minor
from xbtcpay_stripe.reconcile import Reconciler
from xbtcpay_stripe.settings import StripeSettings, parse_settings
from xbtcpay_stripe.subscriptions import subscription_fact

log = structlog.get_logger("xbtcpay.stripe")
WEBHOOK_PATH = "/webhooks/stripe"


def safe_message(exc: stripe.StripeError) -> str:
    """What may be shown to a shop: Stripe's user-facing message, never request details."""
    if isinstance(exc, stripe.APIConnectionError):
        return "Stripe could not be reached"
    if isinstance(exc, stripe.AuthenticationError):
        return "Stripe refused the API key"
    return str(exc.user_message or type(exc).__name__)


class StripePlugin:
    """Stripe Checkout (hosted payment page) as an xbtcpay payment method."""

    name = "stripe"
    api_version = PLUGIN_API_VERSION

    def __init__(self) -> None:
        self._ctx: PluginContext | None = None
        self._settings: StripeSettings | None = None
        self._http: stripe.AIOHTTPClient | None = None
        self._client: stripe.StripeClient | None = None
        self.sessions: dict[str, str] = {}  # payment id -> session id (this run)
        self._reconciler: Reconciler | None = None

    @property
    def ctx(self) -> PluginContext:
        assert self._ctx is not None, "setup() has not run"
        return self._ctx

    @property
    def client(self) -> stripe.StripeClient:
        assert self._client is not None, "setup() has not run"
        return self._client

    async def setup(self, ctx: PluginContext) -> None:
        """Validate settings, build the Stripe client, register methods, webhook and job."""
        self._ctx = ctx
        self._settings = settings = parse_settings(ctx)
        self._http = stripe.AIOHTTPClient(timeout=settings.timeout)
        self._client = stripe.StripeClient(
            settings.api_key,
            base_addresses={"api": settings.api_base},
            http_client=self._http,
            max_network_retries=settings.max_network_retries,
        )
        ctx.add_method("payment.createStripeCheckoutSession", self.create_checkout_session)
        ctx.add_method("payment.getStripeConfig", self.get_config)
        ctx.add_route("POST", WEBHOOK_PATH, self.webhook)
        reconciler = Reconciler(
            self.client, ctx, self.sessions, self.apply, min_age=settings.reconcile_after
        )
        ctx.add_job("reconcile", reconciler.run, settings.reconcile_interval)
        self._reconciler = reconciler
        log.info(
            "stripe.ready", api_base=settings.api_base, webhook_url=ctx.public_url(WEBHOOK_PATH)
        )

    async def close(self) -> None:
        """Close the HTTP session of the Stripe client."""
        if self._http is not None:
            await self._http.close_async()  # type: ignore[no-untyped-call]
            self._http = None

    # -- methods ---------------------------------------------------------------------------

    async def charge(self, request: ChargeRequest) -> ChargeResult:
        """A purchase's charge (saved card off-session, wallet token, PaymentMethod id)."""
        return await charges.charge(self.client, request)

    async def get_config(self, params: Mapping[str, Any], call: CallContext) -> dict[str, Any]:
        """What a browser needs to talk to Stripe itself: the publishable key (or null)."""
        assert self._settings is not None
        return {"publishableKey": self._settings.publishable_key}

    async def create_checkout_session(
        self, params: Mapping[str, Any], call: CallContext
    ) -> dict[str, Any]:
        """Create our payment, then its Checkout Session; answer the hosted page's URL."""
        product = params.get("product")
        if not isinstance(product, str):
            raise InvalidParams("missing product")
        priced = self.ctx.price(product, params.get("currency"), params.get("amount"))
        spec = self.ctx.product(product) or {}
        if spec.get("type") == "subscription":
            raise InvalidParams(
                f"product {product} is a subscription; Stripe checkout sells "
                "one_time and top_up products"
            )
        req = parse_request(params, priced)
        payment = await self.ctx.create_payment(
            NewPayment(
                method=self.name,
                asset=req.currency,
                amount=req.amount,
                data=req.data,
                postback_url=req.postback_url,
                product=req.product,
                customer=req.customer,
            )
        )
        try:
            session = await self.client.v1.checkout.sessions.create_async(
                params=session_params(payment.id, req, spec),  # type: ignore[arg-type]
                options={"idempotency_key": idempotency_key(payment.id)},
            )
        except stripe.StripeError as exc:
            await self._refused(payment, safe_message(exc))
            raise ProviderError(
                f"Stripe refused the checkout session: {safe_message(exc)}"
            ) from exc
        charged = from_minor(int(session.amount_total or 0), str(session.currency))
        if charged != req.amount or str(session.currency).upper() != req.currency.upper():
            await self._refused(payment, "the Stripe price differs from the catalog")
            raise ProviderError(
                f"the Stripe price of {req.product} charges {charged} "
                f"{str(session.currency).upper()}, the catalog says "
                f"{req.amount} {req.currency}"
            )
        self.sessions[payment.id] = session.id
        log.info("stripe.checkout_created", payment_id=payment.id, session_id=session.id)
        return {"url": session.url, "id": payment.id, "sessionId": session.id}

    async def checkout_url(self, payment: Payment) -> str | None:
        """The hosted page of the payment's Checkout Session while it is open (CheckoutLink)."""
        assert self._reconciler is not None, "setup() has not run"
        session = await self._reconciler.session_of(payment)
        if session is None or session.get("status") != "open":
            return None
        url = session.get("url")
        return url if isinstance(url, str) and url.startswith("https://") else None

    async def _refused(self, payment: Payment, reason: str) -> None:
        log.warning("stripe.checkout_refused", payment_id=payment.id, reason=reason)
        await self.ctx.report(
            payment.id,
            PaymentEvent(Event.FAILED, dedupe_key=f"stripe:create:{payment.id}", reason=reason),
        )

    # -- webhook ---------------------------------------------------------------------------

    async def webhook(self, request: web.Request) -> web.Response:
        """Verify the signature on the raw body, then apply the event once."""
        assert self._settings is not None
        raw = await request.read()
        try:
            verified = self.client.construct_event(
                raw.decode("utf-8"),
                request.headers.get("Stripe-Signature"),
                self._settings.webhook_secret,
                tolerance=self._settings.webhook_tolerance,
            )
        except (stripe.SignatureVerificationError, ValueError) as exc:
            log.warning(
                "stripe.webhook_rejected", error=type(exc).__name__, client_ip=request.remote
            )
            return web.json_response({"error": "invalid signature"}, status=400)
        event = verified.to_dict()
        if from_the_future(event, time.time(), self._settings.webhook_tolerance):
            log.warning(
                "stripe.webhook_rejected",
                error="created_in_the_future",
                event_id=event.get("id"),
                client_ip=request.remote,
            )
            return web.json_response({"error": "event created in the future"}, status=400)
        fact = fact_of(event)
        outcome = await self.apply(fact) if fact is not None else "ignored"
        sub_fact = subscription_fact(event)
        if sub_fact is not None:
            changed = await self.ctx.subscription_event(
                sub_fact.subscription,
                sub_fact.kind,
                event_id=str(event.get("id")),
                amount_minor=sub_fact.amount_minor,
                currency=sub_fact.currency,
                reference=sub_fact.reference,
            )
            outcome = "applied" if changed else "ignored"
        # Events that touch no payment are still recorded once, for the audit trail.
        if outcome in ("ignored", "unknown_payment") and not await self.ctx.claim(
            f"event:{event.get('id')}"
        ):
            outcome = "duplicate"
        log.info(
            "stripe.webhook", event_id=event.get("id"), type=event.get("type"), outcome=outcome
        )
        return web.json_response({"received": True, "outcome": outcome})

    async def _target(self, fact: Fact) -> Payment | None:
        if fact.payment_id:
            payment = await self.ctx.get_payment(fact.payment_id)
            if payment is not None and payment.method == self.name:
                return payment
        if fact.payment_intent:
            return await self.ctx.find_payment(fact.payment_intent)
        return None

    async def apply(self, fact: Fact) -> str:
        """Report ``fact`` on its payment: applied, duplicate, refused or unknown_payment."""
        payment = await self._target(fact)
        if payment is None:
            return "unknown_payment"
        event = fact.event
        why = shortfall(payment, fact.currency, event.amount_received)
        if event.kind == Event.PAID and why is not None:
            log.error(
                "stripe.charge_does_not_pay",
                payment_id=payment.id,
                reason=why,
                amount_total=fact.amount_total,
                currency=fact.currency,
            )
            event = dataclasses.replace(event, kind=Event.SEEN, reason=why)
        result = await self.ctx.report(payment.id, event)
        if result.duplicate:
            return "duplicate"
        return "applied" if result.changed else "refused"

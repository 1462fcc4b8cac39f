"""The Braintree plugin: client tokens, nonce payments, subscriptions, webhooks."""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Mapping
from decimal import Decimal
from typing import Any
from xml.parsers.expat import ExpatError

import structlog
from aiohttp import web

from xbtcpay.plugin_api import (
    PLUGIN_API_VERSION,
    CallContext,
    ChargeRequest,
    ChargeResult,
    Conflict,
    InvalidParams,
    NewPayment,
    Payment,
    PluginContext,
    data_text,
    postback_url,
)
from xbtcpay_braintree import charges
from xbtcpay_braintree import params as p
from xbtcpay_braintree.gateway import LIVE_STATUSES, BraintreeClient, BraintreeError, GatewayError
from xbtcpay_braintree.reconcile import Reconciler
from xbtcpay_braintree.results import Outcome, charge_outcome, covered, refusal_event
from xbtcpay_braintree.settings import parse_settings
from xbtcpay_braintree.webhooks import Notifications

log = structlog.get_logger("xbtcpay.braintree")
WEBHOOK_PATH = "/webhooks/braintree"


class BraintreePlugin:
    """Braintree (cards, PayPal, wallets through the drop-in UI) as an xbtcpay payment method."""

    name = "braintree"
    api_version = PLUGIN_API_VERSION

    def __init__(self) -> None:
        self._ctx: PluginContext | None = None
        self._client: BraintreeClient | None = None
        self._notifications: Notifications | None = None

    @property
    def ctx(self) -> PluginContext:
        assert self._ctx is not None, "setup() has not run"
        return self._ctx

    @property
    def client(self) -> BraintreeClient:
        assert self._client is not None, "setup() has not run"
        return self._client

    async def setup(self, ctx: PluginContext) -> None:
        """Validate settings, build the gateway, register methods, webhook and job."""
        self._ctx = ctx
        settings = parse_settings(ctx)
        self._client = BraintreeClient(settings)
        self._notifications = Notifications(self.name, ctx, self._client)
        ctx.add_method("payment.getBraintreeClientToken", self.client_token)
        ctx.add_method("payment.processBraintreePayment", self.process_payment)
        ctx.add_method("payment.cancelBraintreeSubscription", self.cancel_subscription)
        ctx.add_method("payment.getBraintreeSubscriptions", self.subscriptions)
        ctx.add_route("POST", WEBHOOK_PATH, self.webhook)
        reconciler = Reconciler(ctx, self._client, min_age=settings.reconcile_after)
        ctx.add_job("reconcile", reconciler.run, settings.reconcile_interval)
        log.info(
            "braintree.ready",
            environment=settings.environment,
            merchant_id=settings.merchant_id,
            webhook_url=ctx.public_url(WEBHOOK_PATH),
        )

    async def close(self) -> None:
        """Nothing to release: the SDK opens one HTTP session per call."""

    async def charge(self, request: ChargeRequest) -> ChargeResult:
        """A purchase's charge (stored card, wallet or nonce): see ``charges``."""
        return await charges.charge(self.client, request)

    # -- methods ---------------------------------------------------------------------------

    async def client_token(self, params: Mapping[str, Any], call: CallContext) -> dict[str, Any]:
        """A client token for the drop-in UI (bound to the customer's vault if known)."""
        customer = p.customer(params, required=False)
        return {"token": await self.client.client_token(customer)}

    async def process_payment(self, params: Mapping[str, Any], call: CallContext) -> dict[str, Any]:
        """Charge a payment method nonce: a one-off sale, or a subscription's first charge."""
        nonce, product = p.nonce(params), p.product(params)
        currency, amount = self.ctx.price(product, params.get("currency"), params.get("amount"))
        spec = self.ctx.product(product) or {}
        subscription = spec.get("type") == "subscription"
        plan = p.plan_of(spec, product) if subscription else None
        customer = p.customer(params, required=subscription)
        self._check_currency(currency)
        if plan is not None and customer is not None:
            await self._refuse_second_subscription(customer, plan, product)
        payment = await self.ctx.create_payment(
            NewPayment(
                method=self.name,
                asset=currency,
                amount=amount,
                data=data_text(params.get("data")),
                postback_url=postback_url(params),
                product=product,
                customer=customer,
                extra={"braintree_plan": plan} if plan else {},
            )
        )
        try:
            if plan is None:
                result = await self.client.sale(amount, currency, nonce, payment.id, customer)
                outcome = charge_outcome(result, payment.id, getattr(result, "transaction", None))
            else:
                assert customer is not None
                outcome = await self._subscribe(payment, customer, nonce, plan, amount)
        except GatewayError as exc:
            await self._gateway_failed(payment, exc)
            raise
        outcome = _charged_in(outcome, payment)
        await self.ctx.report(payment.id, outcome.event)
        log.info(
            "braintree.processed",
            payment_id=payment.id,
            status=outcome.status,
            transaction_id=outcome.transaction_id,
            reason=outcome.reason,
        )
        return outcome.answer(payment.id)

    def _check_currency(self, currency: str) -> None:
        accounts = self.client.settings.merchant_accounts
        if accounts and currency.upper() not in accounts:
            raise InvalidParams(f"no Braintree merchant account for {currency}")

    async def _refuse_second_subscription(self, customer: str, plan: str, product: str) -> None:
        live = [
            s
            for s in await self.client.subscriptions_of(customer)
            if s.plan_id == plan and s.status in LIVE_STATUSES
        ]
        if live:
            raise Conflict(f"customer already has a live subscription to {product}")

    async def _subscribe(
        self, payment: Payment, customer: str, nonce: str, plan: str, price: Decimal
    ) -> Outcome:
        await self.client.ensure_customer(customer)
        vaulted = await self.client.vault(customer, nonce)
        if not vaulted.is_success:
            return charge_outcome(vaulted, payment.id, None, {"braintree_plan": plan})
        result = await self.client.subscribe(vaulted.payment_method.token, plan, price)
        sub = getattr(result, "subscription", None)
        txs = list(getattr(sub, "transactions", None) or [])
        tx = txs[0] if txs else getattr(result, "transaction", None)
        extra = {"braintree_plan": plan, "braintree_subscription": getattr(sub, "id", None)}
        return charge_outcome(result, payment.id, tx, extra)

    async def _gateway_failed(self, payment: Payment, exc: GatewayError) -> None:
        """A definite refusal fails the payment; an unknown outcome is left to reconciliation."""
        log.warning(
            "braintree.gateway_failed",
            payment_id=payment.id,
            error=exc.detail,
            definite=exc.definite,
        )
        if exc.definite:
            await self.ctx.report(payment.id, refusal_event(payment.id, str(exc.detail)))

    async def cancel_subscription(
        self, params: Mapping[str, Any], call: CallContext
    ) -> dict[str, Any]:
        """Cancel the customer's live subscriptions to the product's plan."""
        product = p.product(params)
        plan = p.plan_of(self.ctx.product(product), product)
        customer = p.customer(params, required=True)
        assert customer is not None
        live = [
            s
            for s in await self.client.subscriptions_of(customer)
            if s.plan_id == plan and s.status in LIVE_STATUSES
        ]
        if not live:
            return {"status": "failed", "reason": "no active subscription to this product"}
        canceled: list[str] = []
        for sub in live:
            result = await self.client.cancel(sub.id)
            if not result.is_success:
                return {"status": "failed", "reason": str(result.message), "canceled": canceled}
            canceled.append(sub.id)
        log.info(
            "braintree.subscription_canceled_by_shop",
            customer=customer,
            plan=plan,
            subscriptions=canceled,
        )
        return {"status": "success", "canceled": canceled}

    async def subscriptions(self, params: Mapping[str, Any], call: CallContext) -> dict[str, Any]:
        """The customer's live subscriptions (Active, Pending, Past Due)."""
        customer = p.customer(params, required=True)
        assert customer is not None
        subs = await self.client.subscriptions_of(customer)
        return {
            "subscriptions": [
                {
                    "planId": s.plan_id,
                    "id": s.id,
                    "status": s.status,
                    "price": format(s.price, "f")
                    if getattr(s, "price", None) is not None
                    else None,
                    "nextBillingDate": _iso(getattr(s, "next_billing_date", None)),
                }
                for s in subs
                if s.status in LIVE_STATUSES
            ]
        }

    # -- webhook ---------------------------------------------------------------------------

    async def webhook(self, request: web.Request) -> web.Response:
        """Verify bt_signature over bt_payload, then apply the notification once."""
        assert self._notifications is not None
        form = await request.post()
        signature, payload = form.get("bt_signature"), form.get("bt_payload")
        if not isinstance(signature, str) or not isinstance(payload, str):
            return web.json_response({"error": "bt_signature and bt_payload required"}, status=400)
        try:
            notification = self.client.parse_notification(signature, payload)
        except (BraintreeError, ValueError, ExpatError, KeyError) as exc:
            log.warning(
                "braintree.webhook_rejected", error=type(exc).__name__, client_ip=request.remote
            )
            return web.json_response({"error": "invalid signature"}, status=400)
        outcome = await self._notifications.handle(notification)
        if outcome in ("ignored", "recorded", "unknown_payment", "unknown_subscription"):
            digest = hashlib.sha256(payload.encode()).hexdigest()
            if not await self.ctx.claim(f"notification:{digest}"):
                outcome = "duplicate"
        log.info("braintree.webhook", kind=str(notification.kind), outcome=outcome)
        return web.json_response({"received": True, "outcome": outcome})


def _charged_in(outcome: Outcome, payment: Payment) -> Outcome:
    """A success whose transaction does not pay the price (currency, amount) is not ``paid``."""
    event = covered(payment, outcome.event)
    if outcome.status != "success" or event is outcome.event:
        return outcome
    log.error(
        "braintree.charge_does_not_pay",
        payment_id=payment.id,
        reason=event.reason,
        transaction_id=outcome.transaction_id,
    )
    return dataclasses.replace(outcome, status="failed", event=event, reason=event.reason)


def _iso(value: Any) -> str | None:
    return value.isoformat() if hasattr(value, "isoformat") else None

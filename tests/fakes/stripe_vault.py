"""The fake Stripe API extended to saved cards and off-session PaymentIntents.

Adds Stripe's customer search (``GET /v1/customers/search?query=metadata['k']:'v'``),
``GET /v1/customers/{id}`` with ``invoice_settings.default_payment_method``, and
``POST /v1/payment_intents`` with ``confirm=true`` for a saved PaymentMethod
(``off_session=true``), a wallet token (``payment_method_data[card][token]``) or a
PaymentMethod id from Stripe.js. Declines answer 402 ``card_error`` with ``code``,
``decline_code`` and the failed ``payment_intent``, as Stripe does; Idempotency-Key replays.

Test controls: ``save_card(shop_customer, card)`` (a customer saved a card earlier) and
``wallet_token(kind)`` (what Apple Pay / Google Pay JS hands the app after tokenizing).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.fakes.stripe_server import FakeStripe, StripeFailure

# Stripe's test PaymentMethods and what confirming them off-session does.
TEST_CARDS: dict[str, tuple[str, str, str | None]] = {
    "pm_card_visa": ("visa", "4242", None),
    "pm_card_mastercard": ("mastercard", "4444", None),
    "pm_card_chargeDeclined": ("visa", "0002", "card_declined"),
    "pm_card_chargeDeclinedInsufficientFunds": ("visa", "9995", "insufficient_funds"),
    "pm_card_authenticationRequired": ("visa", "3184", "authentication_required"),
}


@dataclass
class FakeStripeVault(FakeStripe):
    customers: dict[str, dict[str, Any]] = field(default_factory=dict)
    payment_methods: dict[str, dict[str, Any]] = field(default_factory=dict)
    payment_intents: dict[str, dict[str, Any]] = field(default_factory=dict)
    tokens: dict[str, dict[str, Any]] = field(default_factory=dict)

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/v1/customers/search", self._search_customers)
        app.router.add_get("/v1/customers/{id}", self._get_customer)
        app.router.add_post("/v1/payment_intents", self._create_intent)
        app.router.add_get("/v1/payment_intents/{id}", self._get_intent)

    # -- test controls ---------------------------------------------------------------------

    def save_card(self, shop_customer: str, card: str = "pm_card_visa") -> str:
        """The customer saved ``card`` (a test PaymentMethod) as their default; the cus id."""
        cus = self._new_id("cus")
        pm = self._payment_method(card, cus)
        self.customers[cus] = {
            "id": cus,
            "object": "customer",
            "metadata": {"xbtcpay_customer": shop_customer},
            "invoice_settings": {"default_payment_method": pm["id"]},
        }
        return cus

    def wallet_token(self, kind: str, card: str = "pm_card_visa") -> str:
        """A card token made by Apple Pay / Google Pay JS (``tokenization_method``)."""
        brand, last4, outcome = TEST_CARDS[card]
        token = self._new_id("tok")
        self.tokens[token] = {
            "id": token,
            "object": "token",
            "type": "card",
            "card": {"brand": brand, "last4": last4, "tokenization_method": kind},
            "_outcome": outcome,
        }
        return token

    def _payment_method(
        self, card: str, customer: str | None, wallet: str | None = None, outcome: str | None = None
    ) -> dict[str, Any]:
        brand, last4, declined = TEST_CARDS.get(card, ("visa", "4242", None))
        pm: dict[str, Any] = {
            "id": self._new_id("pm"),
            "object": "payment_method",
            "type": "card",
            "customer": customer,
            "card": {
                "brand": brand,
                "last4": last4,
                "wallet": {"type": wallet} if wallet else None,
            },
            "_outcome": outcome if wallet else declined,
        }
        self.payment_methods[pm["id"]] = pm
        return pm

    # -- handlers --------------------------------------------------------------------------

    async def _search_customers(self, request: web.Request) -> web.Response:
        try:
            params = await self._guard(request)
        except StripeFailure as failure:
            return failure.response()
        query = str(params.get("query", ""))
        found = [
            c
            for c in self.customers.values()
            if query == f"metadata['xbtcpay_customer']:'{c['metadata']['xbtcpay_customer']}'"
        ]
        return web.json_response(
            {
                "object": "search_result",
                "data": found,
                "has_more": False,
                "next_page": None,
                "url": "/v1/customers/search",
            }
        )

    async def _get_customer(self, request: web.Request) -> web.Response:
        try:
            await self._guard(request)
            customer = self.customers.get(request.match_info["id"])
            if customer is None:
                raise StripeFailure(
                    404,
                    "invalid_request_error",
                    "No such customer",
                    code="resource_missing",
                    param="id",
                )
        except StripeFailure as failure:
            return failure.response()
        return web.json_response(customer)

    async def _get_intent(self, request: web.Request) -> web.Response:
        try:
            await self._guard(request)
            intent = self.payment_intents.get(request.match_info["id"])
            if intent is None:
                raise StripeFailure(
                    404,
                    "invalid_request_error",
                    "No such payment_intent",
                    code="resource_missing",
                    param="intent",
                )
        except StripeFailure as failure:
            return failure.response()
        return web.json_response(intent)

    async def _create_intent(self, request: web.Request) -> web.Response:
        try:
            params = await self._guard(request)
        except StripeFailure as failure:
            return failure.response()
        key = request.headers.get("Idempotency-Key")
        fingerprint = json.dumps(params, sort_keys=True)
        if key and key in self._idempotency:
            seen, status, body = self._idempotency[key]
            if seen != fingerprint:
                return StripeFailure(
                    400,
                    "idempotency_error",
                    "Keys for idempotent requests "
                    "can only be used with the same parameters they were "
                    "first used with.",
                ).response()
            return web.json_response(body, status=status, headers={"Idempotent-Replayed": "true"})
        status, body = self._confirm(params)
        if key:
            self._idempotency[key] = (fingerprint, status, body)
        return web.json_response(body, status=status)

    def _method_of(self, params: dict[str, Any]) -> dict[str, Any]:
        data = params.get("payment_method_data")
        if isinstance(data, dict):
            token = self.tokens.get(str((data.get("card") or {}).get("token")))
            if token is None:
                raise StripeFailure(
                    400,
                    "invalid_request_error",
                    "No such token",
                    code="resource_missing",
                    param="payment_method_data[card][token]",
                )
            card = token["card"]
            pm = self._payment_method("", None, card["tokenization_method"], token["_outcome"])
            pm["card"].update(brand=card["brand"], last4=card["last4"])
            return pm
        known = self.payment_methods.get(str(params.get("payment_method")))
        if known is None:
            raise StripeFailure(
                400,
                "invalid_request_error",
                "No such PaymentMethod",
                code="resource_missing",
                param="payment_method",
            )
        return known

    def _confirm(self, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        try:
            amount = int(params["amount"])
            pm = self._method_of(params)
        except (KeyError, ValueError):
            return StripeFailure(
                400, "invalid_request_error", "Missing required param: amount.", param="amount"
            ).status, {}
        except StripeFailure as failure:
            return failure.status, {
                "error": {
                    "type": failure.kind,
                    "message": str(failure),
                    "param": failure.param,
                    "code": failure.code,
                }
            }
        if params.get("customer") and pm.get("customer") not in (None, params["customer"]):
            return 400, {
                "error": {
                    "type": "invalid_request_error",
                    "code": "resource_missing",
                    "message": "The PaymentMethod belongs to another customer",
                    "param": "payment_method",
                }
            }
        intent = {
            "id": self._new_id("pi"),
            "object": "payment_intent",
            "amount": amount,
            "currency": params.get("currency"),
            "customer": params.get("customer"),
            "metadata": params.get("metadata") or {},
            "payment_method": pm["id"],
            "off_session": params.get("off_session"),
            "status": "succeeded",
            "latest_charge": self._new_id("ch"),
            "last_payment_error": None,
        }
        self.payment_intents[intent["id"]] = intent
        outcome = pm["_outcome"]
        public_pm = self.public(pm)
        if outcome is None:
            return 200, {**intent, "payment_method": public_pm}
        intent.update(
            status="requires_payment_method"
            if outcome != "authentication_required"
            else "requires_action"
        )
        error = {
            "type": "card_error",
            "code": outcome if outcome == "authentication_required" else "card_declined",
            "decline_code": outcome,
            "message": "Your card was declined."
            if outcome != "authentication_required"
            else "This payment requires authentication.",
            "payment_intent": {**intent, "payment_method": public_pm},
            "payment_method": public_pm,
        }
        intent["last_payment_error"] = error
        return 402, {"error": error}

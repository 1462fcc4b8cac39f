"""``POST /User/Purchase``: the original app's purchase call, on both ports.

The body keeps its own spelling (``PurchaseToken, Card, Product{Token}, UseStoredCard,
UseDiamonds, Token{Type, Token}``); it is renamed into ``payment.purchase`` params and the
registered method does the rest, raw card numbers refused before anything else is read
(anywhere in the body, also in fields the renaming drops).
The private port's shop names ``customer`` in the body; on the public port the session's
customer is used, and a body naming another customer or a ``TaxCountry`` is refused.

The answer is the purchase's own body (its ``PaymentResponse``, HTTP 200) whatever the
outcome, 409 for a purchase token reused with other parameters; a body that cannot be read
answers ``InvalidRequest`` in that shape, a refused session ``{data, error}``.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Any, Final

from aiohttp import web

from xbtcpay.commerce.errors import Forbidden
from xbtcpay.commerce.purchases.requests import purchase_endpoint_params, refuse_card_numbers
from xbtcpay.commerce.purchases.responses import PaymentResponse, PurchaseRefused, answer
from xbtcpay.core.errors import Conflict, RpcError
from xbtcpay.core.jsonio import JsonError, loads
from xbtcpay.core.registry import MethodRegistry
from xbtcpay.plugin_api import CallContext
from xbtcpay.web.bodies import json_answer, read_limited, refusal
from xbtcpay.web.policy import Caller, PortPolicy
from xbtcpay.web.rpc import client_of

PURCHASE_METHOD: Final = "payment.purchase"
MAX_BODY: Final = 64 * 1024


def setup_purchase_routes(
    app: web.Application, registry: MethodRegistry, policy: PortPolicy
) -> None:
    """Route ``POST /User/Purchase`` of one port."""
    app.router.add_post("/User/Purchase", PurchaseEndpoint(registry, policy).purchase)


class PurchaseEndpoint:
    def __init__(self, registry: MethodRegistry, policy: PortPolicy) -> None:
        self.registry = registry
        self.policy = policy

    async def purchase(self, request: web.Request) -> web.Response:
        body = await _body(request)
        if isinstance(body, web.Response):
            return body
        try:
            caller = self.policy.admit(request)
            customer = _customer(caller, body)
        except RpcError as exc:
            return refusal(exc)
        try:  # the whole body: a field the renaming drops may still carry a card number
            refuse_card_numbers(body)
        except PurchaseRefused as refused:
            return json_answer(answer(refused.response, refused.message), 200)
        ctx = CallContext("http", client_of(request), secrets.token_hex(8), caller.customer)
        try:
            result = await self.registry.call(
                PURCHASE_METHOD, purchase_endpoint_params(body, customer), ctx
            )
        except Conflict as exc:
            return json_answer(answer(PaymentResponse.DUPLICATE_PURCHASE, exc.message), 409)
        return json_answer(result, 200)


def _customer(caller: Caller, body: Mapping[str, Any]) -> Any:
    """Whom the purchase is for: the body's ``customer`` for the shop, else the session's."""
    if caller.customer is None:
        return body.get("customer")
    if body.get("customer") not in (None, caller.customer):
        raise Forbidden("a session acts only for its own customer")
    if "TaxCountry" in body:
        raise Forbidden("TaxCountry is set by the shop's backend, not by the app")
    return caller.customer


async def _body(request: web.Request) -> Mapping[str, Any] | web.Response:
    raw = await read_limited(request, MAX_BODY)  # the input guard may have read it
    if raw is None:
        return json_answer(answer(PaymentResponse.INVALID_REQUEST, "body too large"), 413)
    try:
        body = loads(raw)
    except JsonError:
        return json_answer(answer(PaymentResponse.INVALID_REQUEST, "body must be JSON"), 400)
    if not isinstance(body, dict):
        return json_answer(answer(PaymentResponse.INVALID_REQUEST, "body must be an object"), 400)
    return body

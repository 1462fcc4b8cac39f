"""``POST /User/Purchase``: the original app's purchase call, on both ports, as ServiceStack
serves it (``xbtcpay.web.servicestack``: JSON or JSV both ways, ``.json``/``.jsv`` suffixes
and ``?format=``, case-insensitive names, decimals as numbers, ``ResponseStatus`` on 4xx).

The body keeps its own spelling (``PurchaseToken, Card, Product{Token}, UseStoredCard,
UseDiamonds, Token{Type, Token}``); it is renamed into ``payment.purchase`` params and the
registered method does the rest, raw card numbers refused before anything else is read
(anywhere in the body, also in fields the renaming drops).
The private port's shop names ``customer`` in the body; on the public port the session's
customer is used, and a body naming another customer or a ``TaxCountry`` is refused.

The answer is the purchase's own body (its ``PaymentResponse``, HTTP 200) whatever the
outcome of the purchase; a refusal before it starts is an HTTP error carrying the same body
and ServiceStack's ``ResponseStatus``: 400 for a body that cannot be read, 401/403 for the
session, 409 for a purchase token reused with other parameters, 413 for a body too large.
"""

from __future__ import annotations

import functools
import secrets
from collections.abc import Mapping
from typing import Any, Final

from aiohttp import web

from xbtcpay.commerce.errors import Forbidden
from xbtcpay.commerce.purchases.requests import purchase_endpoint_params, refuse_card_numbers
from xbtcpay.commerce.purchases.responses import PaymentResponse, PurchaseRefused, answer
from xbtcpay.core.errors import Conflict, RpcError
from xbtcpay.core.registry import MethodRegistry
from xbtcpay.plugin_api import CallContext
from xbtcpay.web.bodies import read_limited
from xbtcpay.web.errors import answer_of
from xbtcpay.web.policy import Caller, PortPolicy
from xbtcpay.web.rpc import client_of
from xbtcpay.web.servicestack import (
    BadRequest,
    Format,
    answer_format,
    bind_purchase,
    read_body,
    respond,
    with_decimals,
    with_status,
)

PURCHASE_METHOD: Final = "payment.purchase"
PATH: Final = "/User/Purchase"
MAX_BODY: Final = 64 * 1024


def setup_purchase_routes(
    app: web.Application, registry: MethodRegistry, policy: PortPolicy
) -> None:
    """Route ``POST /User/Purchase`` (and its ``.json``/``.jsv`` forms) of one port."""
    endpoint = PurchaseEndpoint(registry, policy)
    for suffix in (None, "json", "jsv"):
        path = PATH if suffix is None else f"{PATH}.{suffix}"
        app.router.add_post(path, functools.partial(endpoint.purchase, suffix=suffix))


class PurchaseEndpoint:
    def __init__(self, registry: MethodRegistry, policy: PortPolicy) -> None:
        self.registry = registry
        self.policy = policy

    async def purchase(self, request: web.Request, suffix: str | None = None) -> web.Response:
        fmt = answer_format(request, suffix)
        body = await _body(request, fmt)
        if isinstance(body, web.Response):
            return body
        try:
            caller = await self.policy.admit(request)
            customer = _customer(caller, body)
        except RpcError as exc:
            self.policy.refused(request, exc)
            return _refused_call(exc, fmt)
        try:  # the whole body: a field the renaming drops may still carry a card number
            refuse_card_numbers(body)
        except PurchaseRefused as refused:
            return respond(answer(refused.response, refused.message), fmt)
        ctx = CallContext("http", client_of(request), secrets.token_hex(8), caller.customer)
        try:
            result = await self.registry.call(
                PURCHASE_METHOD, purchase_endpoint_params(body, customer), ctx
            )
        except Conflict as exc:
            return _error(PaymentResponse.DUPLICATE_PURCHASE, exc.message, 409, fmt)
        return respond(with_decimals(result), fmt)


def _customer(caller: Caller, body: Mapping[str, Any]) -> Any:
    """Whom the purchase is for: the body's ``customer`` for the shop, else the session's."""
    if caller.customer is None:
        return body.get("customer")
    if body.get("customer") not in (None, caller.customer):
        raise Forbidden("a session acts only for its own customer")
    if "TaxCountry" in body:
        raise Forbidden("TaxCountry is set by the shop's backend, not by the app")
    return caller.customer


def _error(
    response: PaymentResponse,
    message: str,
    status: int,
    fmt: Format,
    code: str | None = None,
    errors: list[dict[str, str]] | None = None,
) -> web.Response:
    body = with_status(answer(response, message), code or response.value, message, errors)
    return respond(body, fmt, status)


def _refused_call(exc: RpcError, fmt: Format) -> web.Response:
    """A session refused (401/403) or the storage down (503), in the purchase's shape."""
    status = answer_of(exc).api_status
    return _error(PaymentResponse.INVALID_REQUEST, exc.message, status, fmt, type(exc).__name__)


async def _body(request: web.Request, fmt: Format) -> Mapping[str, Any] | web.Response:
    raw = await read_limited(request, MAX_BODY)  # the input guard may have read it
    if raw is None:
        return _error(PaymentResponse.INVALID_REQUEST, "body too large", 413, fmt)
    try:
        body = read_body(raw, request.content_type, fmt)
        if not isinstance(body, dict):
            raise BadRequest("body must be an object")
        return bind_purchase(body)
    except BadRequest as exc:
        return _error(PaymentResponse.INVALID_REQUEST, str(exc), 400, fmt, errors=exc.errors())

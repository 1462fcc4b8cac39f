"""HTTP routes of the commerce layer: the purchase endpoint ``POST /User/Purchase`` (private port with
``customer`` in the body; public port with a session) and the HTML receipt page."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiohttp import web

from xbtcpay.commerce.errors import Forbidden
from xbtcpay.commerce.public_api import PublicApi
from xbtcpay.commerce.purchases.html import render
from xbtcpay.commerce.purchases.methods import CommerceMethods
from xbtcpay.commerce.purchases.requests import from_purchase_endpoint
from xbtcpay.commerce.purchases.responses import PaymentResponse, PurchaseRefused, answer
from xbtcpay.commerce.settings import CommerceConfig
from xbtcpay.core.errors import Conflict, RpcError
from xbtcpay.core.jsonio import JsonError, dumps, loads
from xbtcpay.web import rpc

MAX_BODY = 64 * 1024


class CommerceRoutes:
    def __init__(
        self, config: CommerceConfig, methods: CommerceMethods, public_api: PublicApi
    ) -> None:
        self.config = config
        self.methods = methods
        self.public_api = public_api

    def private_routes(self) -> list[tuple[str, str, Any]]:
        return [("POST", "/User/Purchase", self.purchase_private)]

    def public_routes(self) -> list[tuple[str, str, Any]]:
        return [
            ("POST", "/User/Purchase", self.purchase_public),
            ("GET", "/receipts/{token}", self.receipt_page),
            *self.public_api.routes(),
        ]

    async def purchase_private(self, request: web.Request) -> web.Response:
        body = await _body(request)
        if isinstance(body, web.Response):
            return body
        return await self._purchase(body, body.get("customer"))

    async def purchase_public(self, request: web.Request) -> web.Response:
        body = await _body(request)
        if isinstance(body, web.Response):
            return body
        try:
            session = self.public_api.session_of(request)
            if body.get("customer") not in (None, session.customer):
                raise Forbidden("a session acts only for its own customer")
            if "TaxCountry" in body:
                raise Forbidden("TaxCountry is set by the shop's backend, not by the app")
        except RpcError as exc:
            return _json(rpc._envelope(None, exc), exc.http_status)
        return await self._purchase(body, session.customer)

    async def _purchase(self, body: Mapping[str, Any], customer: Any) -> web.Response:
        try:
            result = await self.methods.purchases.purchase(from_purchase_endpoint(body, customer))
        except PurchaseRefused as refused:
            result = answer(refused.response, refused.message)
        except Conflict as exc:
            return _json(answer(PaymentResponse.DUPLICATE_PURCHASE, exc.message), 409)
        return _json(result, 200)

    async def receipt_page(self, request: web.Request) -> web.Response:
        token = request.match_info["token"]
        found = await self.methods.receipts.by_view_token(token) if 16 <= len(token) <= 64 else None
        if found is None:
            return web.Response(status=404, text="unknown receipt", content_type="text/plain")
        currency = self.methods.currency(found.currency)
        assert currency is not None
        page = render(found, self.config.company(found.company), currency)
        return web.Response(
            text=page,
            content_type="text/html",
            headers={
                "Cache-Control": "private, no-store",
                "Referrer-Policy": "no-referrer",
                "X-Robots-Tag": "noindex",
                "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
            },
        )


async def _body(request: web.Request) -> Mapping[str, Any] | web.Response:
    raw = await rpc.read_limited(request, MAX_BODY)  # the input guard may have read it
    if raw is None:
        return _json(answer(PaymentResponse.INVALID_REQUEST, "body too large"), 413)
    try:
        body = loads(raw)
    except JsonError:
        return _json(answer(PaymentResponse.INVALID_REQUEST, "body must be JSON"), 400)
    if not isinstance(body, dict):
        return _json(answer(PaymentResponse.INVALID_REQUEST, "body must be an object"), 400)
    return body


def _json(body: Any, status: int) -> web.Response:
    return web.Response(text=dumps(body), status=status, content_type="application/json")

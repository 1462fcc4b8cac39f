"""Customer-facing methods on the public port, for the end user's app holding a session.

``POST /api/v0/rpc/<method>`` (header ``X-Session-Id``, optional ``X-Network-Id``) and
``GET /ws`` (the header, or ``?session=`` since browsers cannot set WebSocket headers) call
the same registry as the private port, but only the methods in ``CustomerMethods`` and only
for the session's own customer: ``params.customer`` is set from the session (a different one
is refused with 403), and the shop's own knobs (postback URL, order id) are refused. No
session, or an invalid one, answers 401; anything else answers 403 and changes nothing.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping
from typing import Any

import structlog
from aiohttp import WSMsgType, web

from xbtcpay.commerce.errors import Forbidden, Unauthorized
from xbtcpay.commerce.sessions import Session, SessionVerifier
from xbtcpay.core.errors import InvalidRequest, ParseError, RpcError
from xbtcpay.core.jsonio import JsonError, dumps, loads
from xbtcpay.plugin_api import CallContext
from xbtcpay.web import rpc
from xbtcpay.web.keys import CONFIG

log = structlog.get_logger("xbtcpay.public_api")
SESSION_HEADER = "X-Session-Id"
NETWORK_HEADER = "X-Network-Id"
DEFAULT_CUSTOMER_METHODS = (
    "payment.createStripeCheckoutSession",
    "payment.getStripeConfig",
    "payment.getBraintreeClientToken",
    "payment.processBraintreePayment",
    "payment.cancelBraintreeSubscription",
    "payment.getBraintreeSubscriptions",
    "payment.validateAppStore",
    "payment.createInAppRequest",
    "payment.getInAppConfig",
    "balance.get",
    "balance.history",
    "balance.getTokenAction",
    "payment.purchase",
    "receipt.get",
    "receipt.list",
)
SHOP_ONLY_PARAMS = ("postback_url", "postback_events", "order_id", "tax_country")


class CustomerMethods:
    """The names an app with a session may call on the public port."""

    def __init__(self, names: Iterable[str] = DEFAULT_CUSTOMER_METHODS) -> None:
        self._names = set(names)

    def allow(self, name: str) -> None:
        """Expose one more method to sessions (it must act only for ``params.customer``)."""
        self._names.add(name)

    def __contains__(self, name: object) -> bool:
        return name in self._names

    def names(self) -> list[str]:
        return sorted(self._names)


class PublicApi:
    """The two public-port transports, guarded by session verification."""

    def __init__(self, verifier: SessionVerifier, methods: CustomerMethods) -> None:
        self.verifier = verifier
        self.methods = methods

    def routes(self) -> list[tuple[str, str, Any]]:
        return [("POST", "/api/v0/rpc/{method}", self.http_api), ("GET", "/ws", self.websocket)]

    def session_of(self, request: web.Request) -> Session:
        token = request.headers.get(SESSION_HEADER) or request.query.get("session")
        return self.verifier.verify(token, request.headers.get(NETWORK_HEADER))

    def scoped(self, method: Any, params: Any, session: Session) -> dict[str, Any]:
        """The params a session may send to ``method``, with its customer filled in."""
        if not isinstance(method, str) or method not in self.methods:
            raise Forbidden("method not available with a session")
        if params is None:
            params = {}
        if not isinstance(params, Mapping):
            raise InvalidRequest("params must be an object")
        claimed = params.get("customer")
        if claimed is not None and claimed != session.customer:
            raise Forbidden("a session acts only for its own customer")
        for key in SHOP_ONLY_PARAMS:
            if key in params:
                raise Forbidden(f"{key} is set by the shop's backend, not by the app")
        return {**params, "customer": session.customer}

    async def http_api(self, request: web.Request) -> web.Response:
        body = await rpc._read_body(request)
        if body is None:
            return _json(rpc._envelope(None, InvalidRequest("body too large")), 413)
        try:
            session = self.session_of(request)
            params = loads(body) if body.strip() else {}
            scoped = self.scoped(request.match_info["method"], params, session)
        except JsonError:
            return _json(rpc._envelope(None, ParseError()), 400)
        except RpcError as exc:
            return self._refused(request, exc)
        ctx = CallContext("http", request.remote or "", secrets.token_hex(8), session.customer)
        try:
            data = await rpc.call_method(request, request.match_info["method"], scoped, ctx)
        except RpcError as exc:
            status = rpc._HTTP_STATUS.get(
                exc.code, exc.http_status if exc.http_status != 200 else 400
            )
            return _json(rpc._envelope(None, exc), status)
        return _json(rpc._envelope(data, None), 200)

    def _refused(self, request: web.Request, exc: RpcError) -> web.Response:
        if isinstance(exc, (Unauthorized, Forbidden)):
            log.info(
                "public_api.refused", path=request.path, why=exc.detail, status=exc.http_status
            )
        status = exc.http_status if exc.http_status != 200 else 400
        return _json(rpc._envelope(None, exc), status)

    async def websocket(self, request: web.Request) -> web.StreamResponse:
        try:
            session = self.session_of(request)
        except RpcError as exc:
            return self._refused(request, exc)
        ws = web.WebSocketResponse(heartbeat=30, max_msg_size=request.app[CONFIG].rpc.max_body)
        await ws.prepare(request)
        async for msg in ws:
            if msg.type == WSMsgType.TEXT:
                await ws.send_str(dumps(await self._ws_call(request, msg.data, session)))
            elif msg.type == WSMsgType.BINARY:
                await ws.send_str(
                    dumps(rpc._frame(None, None, None, ParseError("text frames only")))
                )
        return ws

    async def _ws_call(self, request: web.Request, text: str, session: Session) -> dict[str, Any]:
        try:
            frame = loads(text)
        except JsonError:
            return rpc._frame(None, None, None, ParseError())
        if not isinstance(frame, dict) or not isinstance(frame.get("endpoint"), str):
            return rpc._frame(None, None, None, InvalidRequest("frame needs an endpoint"))
        endpoint: str = frame["endpoint"]
        event: dict[str, Any] = frame["event"] if isinstance(frame.get("event"), dict) else {}
        event_id = event.get("id") if isinstance(event.get("id"), (str, int)) else None
        method = endpoint.replace(":", ".", 1)
        try:
            if session.expires_at <= self.verifier.clock():
                raise Unauthorized("session expired")
            scoped = self.scoped(method, frame.get("data"), session)
            ctx = CallContext(
                "ws", request.remote or "", str(event_id or secrets.token_hex(8)), session.customer
            )
            data = await rpc.call_method(request, method, scoped, ctx)
        except RpcError as exc:
            return rpc._frame(endpoint, event_id, None, exc)
        return rpc._frame(endpoint, event_id, data, None)


def _json(body: Any, status: int) -> web.Response:
    return web.Response(text=dumps(body), status=status, content_type="application/json")

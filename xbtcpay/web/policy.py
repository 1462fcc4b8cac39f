"""What a port lets its callers do: the one difference between the private and public port.

Both ports serve the same transports over the same dispatcher; a policy says who calls
(``admit``), what that caller may send (``Caller.scope``) and how the port words a
malformed WebSocket frame (the private port keeps the original 0xBTCpay's wording).

- ``ShopPolicy`` (private port, behind the IP whitelist): the shop's backend calls every
  method with any params.
- ``SessionPolicy`` (public port): the end user's app holds a session token (header
  ``X-Session-Id`` or nexx's ``X-Request-CID``, optional ``X-Network-Id``; ``?session=`` on
  the WebSocket, which browsers cannot give headers). It calls only the customer-facing methods, only for the session's
  own customer (``params.customer`` is filled in; another one is refused with 403), and never
  sets the shop-only params. No session, or an invalid one, answers 401; an opaque id the
  shop's introspection endpoint cannot vouch for now, 503. The session is resolved by
  ``xbtcpay.commerce.sessions.SessionResolver`` (a JWT, or an opaque id asked of the shop).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final, Protocol

import structlog
from aiohttp import web

from xbtcpay.commerce.customer_methods import SHOP_ONLY_PARAMS, CustomerMethods
from xbtcpay.commerce.errors import Forbidden, Unauthorized
from xbtcpay.commerce.sessions import Session, SessionResolver
from xbtcpay.core.errors import InvalidRequest, RpcError

log = structlog.get_logger("xbtcpay.public_api")
SESSION_HEADER: Final = "X-Session-Id"
NETWORK_HEADER: Final = "X-Network-Id"
CID_HEADER: Final = "X-Request-CID"


def session_token(request: web.Request) -> str | None:
    """The session a request carries: ``X-Session-Id`` (the app payment API),
    ``X-Request-CID`` (nexx's frontends) or ``?session=`` (browsers' WebSockets), all read
    the same way. Two of them naming different sessions are refused, not one picked."""
    given = {
        value
        for value in (
            request.headers.get(SESSION_HEADER),
            request.headers.get(CID_HEADER),
            request.query.get("session"),
        )
        if value
    }
    if len(given) > 1:
        raise Unauthorized("the request names two different sessions")
    return given.pop() if given else None


class Caller(Protocol):
    """One admitted caller: the shop (``customer`` None) or a session's customer."""

    @property
    def customer(self) -> str | None: ...

    def check_live(self) -> None:
        """Raise when the caller's right has ended since it was admitted (long connections)."""

    async def recheck(self) -> None:
        """Like ``check_live``, reading the caller's right again where it is stored."""

    def scope(self, method: Any, params: Any) -> Any:
        """The params this caller may send to ``method``, or the RpcError refusing them."""


class PortPolicy(Protocol):
    serves_jsonrpc: bool  # the original JSON-RPC endpoint ``POST /`` (the shop's only)

    async def admit(self, request: web.Request) -> Caller:
        """The caller of ``request``, or the RpcError refusing it."""

    def refused(self, request: web.Request, exc: RpcError) -> None:
        """Note a refusal of admission or scope (answered by the transport)."""

    def frame_error(self, is_object: bool, event_id: Any) -> tuple[Any, RpcError]:
        """A WebSocket frame that is not an object or names no endpoint: the event id to
        echo and the error to answer."""


class _Shop:
    customer = None

    def check_live(self) -> None:
        return None

    async def recheck(self) -> None:
        return None

    def scope(self, method: Any, params: Any) -> Any:
        return params


class ShopPolicy:
    """The private port: the whitelisted shop may call every method with any params."""

    serves_jsonrpc = True

    async def admit(self, request: web.Request) -> Caller:
        return _Shop()

    def refused(self, request: web.Request, exc: RpcError) -> None:
        return None

    def frame_error(self, is_object: bool, event_id: Any) -> tuple[Any, RpcError]:
        if not is_object:
            return None, InvalidRequest("frame must be an object")
        return event_id, InvalidRequest("missing endpoint")


class SessionCaller:
    """A verified session: its customer, the methods it may call, until when."""

    def __init__(
        self, session: Session, methods: CustomerMethods, clock: Callable[[], float]
    ) -> None:
        self.session = session
        self.methods = methods
        self.clock = clock

    @property
    def customer(self) -> str:
        return self.session.customer

    def check_live(self) -> None:
        if self.session.expires_at <= self.clock():
            raise Unauthorized("session expired")

    async def recheck(self) -> None:
        self.check_live()

    def scope(self, method: Any, params: Any) -> dict[str, Any]:
        """The params with the session's customer filled in."""
        if not isinstance(method, str) or method not in self.methods:
            raise Forbidden("method not available with a session")
        if params is None:
            params = {}
        if not isinstance(params, Mapping):
            raise InvalidRequest("params must be an object")
        claimed = params.get("customer")
        if claimed is not None and claimed != self.session.customer:
            raise Forbidden("a session acts only for its own customer")
        for key in SHOP_ONLY_PARAMS:
            if key in params:
                raise Forbidden(f"{key} is set by the shop's backend, not by the app")
        return {**params, "customer": self.session.customer}


class SessionPolicy:
    """The public port: an end user's app with a session, for its own customer only."""

    serves_jsonrpc = False

    def __init__(self, sessions: SessionResolver, methods: CustomerMethods) -> None:
        self.sessions = sessions
        self.methods = methods

    async def admit(self, request: web.Request) -> SessionCaller:
        network = request.headers.get(NETWORK_HEADER)
        session = await self.sessions.resolve(session_token(request), network)
        return SessionCaller(session, self.methods, self.sessions.clock)

    def refused(self, request: web.Request, exc: RpcError) -> None:
        if isinstance(exc, (Unauthorized, Forbidden)):
            log.info(
                "public_api.refused", path=request.path, why=exc.detail, status=exc.http_status
            )

    def frame_error(self, is_object: bool, event_id: Any) -> tuple[Any, RpcError]:
        # the app matches replies to requests by event id: echo it whenever the frame had one
        return (event_id if is_object else None), InvalidRequest("frame needs an endpoint")

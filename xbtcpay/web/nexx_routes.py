"""nexx-compatible routes: the media access API at the URLs nexxOMNIA's frontends call.

``POST /v3.1/payment/<operation>`` and ``POST /v3.1/<domainid>/payment/<operation>`` (``DELETE``
for ``cancelsubscription``), on both ports, with the parameters in the query string, a form
body or a JSON object (numbers and flags in their text forms). The session goes in
``X-Request-CID`` (or ``X-Session-Id``, or ``?session=``) on the public port; the shop's
backend names ``customer`` on the private port. ``X-Request-Token``, nexx's call signature
made with the nexx domain secret, is not needed: the session (public) and the whitelist
(private) decide who calls, so the header is accepted and not read.

Every answer is nexx's response object, its HTTP status repeated in ``metadata.status``::

    {"metadata": {"status": 200, "apiversion": "3.1", "verb": "POST",
                  "processingtime": 0.0042, "calledwith": "/v3.1/payment/itemstate",
                  "calledfor": "payment", "fordomain": "", "fromstage": "production",
                  "notice": ""},
     "result": {...}}

and on a failure ``result`` is null and ``metadata.errorhint`` says why (the message the
native transports give). Like ``/api/v0/rpc/<method>``, this transport only decodes, asks the
port's policy, calls the one dispatcher (``payment.<operation>``) and encodes.
"""

from __future__ import annotations

import re
import secrets
import time
from decimal import Decimal
from typing import Any, Final

from aiohttp import web

from xbtcpay.core.errors import MethodNotFound, RpcError
from xbtcpay.plugin_api import CallContext
from xbtcpay.web.bodies import json_answer
from xbtcpay.web.call_params import call_params
from xbtcpay.web.dispatch import Dispatcher
from xbtcpay.web.errors import answer_of
from xbtcpay.web.policy import PortPolicy
from xbtcpay.web.rpc import client_of

API_VERSION: Final = "3.1"
PATH_PREFIX: Final = f"/v{API_VERSION}/"
OPERATIONS: Final = frozenset(
    {
        "itemstate",
        "redeemvoucher",
        "preparetransaction",
        "finishtransaction",
        "verifyinapptransaction",
        "addexternalsubscription",
        "upgradesubscription",
        "cancelsubscription",
    }
)
DELETE_OPERATIONS: Final = frozenset({"cancelsubscription"})
_DOMAIN = re.compile(r"^[0-9]{1,12}\Z")


def setup_nexx_routes(
    app: web.Application, dispatcher: Dispatcher, policy: PortPolicy, *, max_body: int
) -> None:
    """Route both URL forms of one port (every verb: a wrong one is answered 405 by nexx's
    response object, not aiohttp's text page)."""
    routes = NexxRoutes(dispatcher, policy, max_body)
    app.router.add_route("*", PATH_PREFIX + "payment/{operation}", routes.call)
    app.router.add_route("*", PATH_PREFIX + "{domainid}/payment/{operation}", routes.call)


class NexxRoutes:
    """The handler of one port over the dispatcher."""

    def __init__(self, dispatcher: Dispatcher, policy: PortPolicy, max_body: int) -> None:
        self.dispatcher = dispatcher
        self.policy = policy
        self.max_body = max_body

    async def call(self, request: web.Request) -> web.Response:
        started = time.perf_counter()
        operation = request.match_info["operation"]
        domain = request.match_info.get("domainid", "")
        if operation not in OPERATIONS or (domain and not _DOMAIN.match(domain)):
            return _answer(request, started, 404, None, f"unknown operation payment/{operation}")
        verb = "DELETE" if operation in DELETE_OPERATIONS else "POST"
        if request.method != verb:
            response = _answer(request, started, 405, None, f"payment/{operation} takes {verb}")
            response.headers["Allow"] = verb
            return response
        try:
            result = await self._dispatch(request, operation)
        except RpcError as exc:
            answer = answer_of(exc)
            status = 404 if isinstance(exc, MethodNotFound) else answer.api_status
            return _answer(request, started, status, None, answer.message)
        return _answer(request, started, 200, result, None)

    async def _dispatch(self, request: web.Request, operation: str) -> Any:
        try:
            caller = await self.policy.admit(request)
            params = await call_params(request, self.max_body)
            method = f"payment.{operation}"
            scoped = caller.scope(method, params)
        except RpcError as exc:
            self.policy.refused(request, exc)
            raise
        ctx = CallContext("nexx", client_of(request), secrets.token_hex(8), caller.customer)
        return await self.dispatcher.call(method, scoped, ctx)


def _answer(
    request: web.Request, started: float, status: int, result: Any, hint: str | None
) -> web.Response:
    """nexx's response object with ``status`` as the HTTP status too."""
    elapsed = Decimal(time.perf_counter() - started).quantize(Decimal("0.000001"))
    metadata: dict[str, Any] = {
        "status": status,
        "apiversion": API_VERSION,
        "verb": request.method,
        "processingtime": elapsed,
        "calledwith": request.path,
        "calledfor": "payment",
        "fordomain": request.match_info.get("domainid", ""),
        "fromstage": "production",
        "notice": "",
    }
    if hint is not None:
        metadata["errorhint"] = hint
    return json_answer({"metadata": metadata, "result": result}, status)

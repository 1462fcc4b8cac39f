"""The three transports of the method registry, on either port (``setup_rpc``).

1. JSON-RPC 2.0 at ``POST /`` (batches, notifications, standard error codes). Errors are
   answered with HTTP 200 and the original 0xBTCpay's codes and messages. The shop's only.
2. ``POST /api/v0/rpc/<method>``: the request body is the params object; the answer is
   ``{"data": <result|null>, "error": {"status": bool, "code": int, "message": str}}``.
3. WebSocket ``GET /ws``: frames ``{"endpoint": "payment:<name>", "data": {...},
   "event": {"id": str, "date": int}}``; the reply carries the same endpoint and event id.

Each one decodes its wire format, asks the port's policy what the caller may send, calls
the dispatcher and encodes the answer; error codes and statuses come from
``xbtcpay.web.errors``.
"""

from __future__ import annotations

import secrets
import time
from typing import Any, Final

from aiohttp import WSMsgType, web

from xbtcpay.core.errors import InvalidRequest, ParseError, RpcError
from xbtcpay.core.jsonio import JsonError, dumps, loads
from xbtcpay.plugin_api import CallContext
from xbtcpay.web.bodies import envelope, json_answer, read_limited, refusal
from xbtcpay.web.dispatch import Dispatcher
from xbtcpay.web.errors import answer_of
from xbtcpay.web.keys import CLIENT_IP
from xbtcpay.web.policy import Caller, PortPolicy

MAX_BATCH: Final = 100
_NO_REPLY: Final = object()


def setup_rpc(
    app: web.Application, dispatcher: Dispatcher, policy: PortPolicy, *, max_body: int
) -> None:
    """Route the port's transports (``POST /`` only where the policy serves JSON-RPC)."""
    transports = Transports(dispatcher, policy, max_body)
    if policy.serves_jsonrpc:
        app.router.add_post("/", transports.jsonrpc)
    app.router.add_post("/api/v0/rpc/{method}", transports.http_api)
    app.router.add_get("/ws", transports.websocket)


def client_of(request: web.Request) -> str:
    """The client address the whitelist found, else the peer."""
    client: str = request.get(CLIENT_IP, request.remote or "")
    return client


class Transports:
    """The handlers of one port, over the dispatcher, limited to ``max_body`` bytes."""

    def __init__(self, dispatcher: Dispatcher, policy: PortPolicy, max_body: int) -> None:
        self.dispatcher = dispatcher
        self.policy = policy
        self.max_body = max_body

    async def jsonrpc(self, request: web.Request) -> web.Response:
        body = await read_limited(request, self.max_body)
        if body is None:
            return json_answer(_rpc_error(InvalidRequest("body too large"), None), status=413)
        try:
            payload = loads(body)
        except JsonError:
            return json_answer(_rpc_error(ParseError(), None))
        try:
            caller = await self.policy.admit(request)
        except RpcError as exc:
            return json_answer(_rpc_error(exc, None))
        try:
            _permit_every_call(caller, payload)
        except RpcError as exc:  # a keyed caller asking for a method outside its scopes (403)
            return json_answer(_rpc_error(exc, None), answer_of(exc).api_status)
        ctx = CallContext("jsonrpc", client_of(request), secrets.token_hex(8), caller.customer)
        if isinstance(payload, list):
            if not payload or len(payload) > MAX_BATCH:
                error = InvalidRequest(f"batch must hold 1..{MAX_BATCH} calls")
                return json_answer(_rpc_error(error, None))
            replies = [await self._one(caller, item, ctx) for item in payload]
            replies = [r for r in replies if r is not _NO_REPLY]
            return json_answer(replies) if replies else web.Response(status=204)
        reply = await self._one(caller, payload, ctx)
        return web.Response(status=204) if reply is _NO_REPLY else json_answer(reply)

    async def _one(self, caller: Caller, item: Any, ctx: CallContext) -> Any:
        if not isinstance(item, dict):
            return _rpc_error(InvalidRequest(), None)
        request_id = item.get("id")
        if (
            item.get("jsonrpc") != "2.0"
            or not isinstance(item.get("method"), str)
            or not _valid_id(request_id)
        ):
            return _rpc_error(InvalidRequest(), request_id if _valid_id(request_id) else None)
        params = item.get("params")
        if "params" in item and not isinstance(params, (dict, list)):
            return _rpc_error(InvalidRequest(), request_id)
        if item["method"] == "start_payment" and params is None:
            return _rpc_error(InvalidRequest(), request_id)  # the original required params
        is_notification = "id" not in item
        try:
            scoped = caller.scope(item["method"], params)
            result = await self.dispatcher.call(item["method"], scoped, ctx)
        except RpcError as exc:
            return _NO_REPLY if is_notification else _rpc_error(exc, request_id)
        if is_notification:
            return _NO_REPLY
        return {"jsonrpc": "2.0", "id": request_id, "result": result}

    async def http_api(self, request: web.Request) -> web.Response:
        """POST /api/v0/rpc/<method> with the params object as body."""
        body = await read_limited(request, self.max_body)
        if body is None:
            return json_answer(envelope(None, InvalidRequest("body too large")), 413)
        method = request.match_info["method"]
        try:
            caller = await self.policy.admit(request)
            params = loads(body) if body.strip() else {}
            scoped = caller.scope(method, params)
        except JsonError:
            return refusal(ParseError())
        except RpcError as exc:
            self.policy.refused(request, exc)
            return refusal(exc)
        ctx = CallContext("http", client_of(request), secrets.token_hex(8), caller.customer)
        try:
            data = await self.dispatcher.call(method, scoped, ctx)
        except RpcError as exc:
            return refusal(exc)
        return json_answer(envelope(data, None))

    async def websocket(self, request: web.Request) -> web.StreamResponse:
        """GET /ws: one call per frame; replies carry the request's endpoint and event id."""
        try:
            caller = await self.policy.admit(request)
        except RpcError as exc:
            self.policy.refused(request, exc)
            return refusal(exc)
        ws = web.WebSocketResponse(heartbeat=30, max_msg_size=self.max_body)
        await ws.prepare(request)
        client = client_of(request)
        async for msg in ws:
            if msg.type == WSMsgType.TEXT:
                await ws.send_str(dumps(await self._frame_call(caller, msg.data, client)))
            elif msg.type == WSMsgType.BINARY:
                await ws.send_str(dumps(_frame(None, None, None, ParseError("text frames only"))))
        return ws

    async def _frame_call(self, caller: Caller, text: str, client: str) -> dict[str, Any]:
        try:
            frame = loads(text)
        except JsonError:
            return _frame(None, None, None, ParseError())
        event: dict[str, Any] = {}
        if isinstance(frame, dict) and isinstance(frame.get("event"), dict):
            event = frame["event"]
        event_id = event.get("id") if isinstance(event.get("id"), (str, int)) else None
        if not isinstance(frame, dict) or not isinstance(frame.get("endpoint"), str):
            echo, error = self.policy.frame_error(isinstance(frame, dict), event_id)
            return _frame(None, echo, None, error)
        endpoint: str = frame["endpoint"]
        method = endpoint.replace(":", ".", 1)
        try:
            caller.check_live()
            await caller.recheck()
            scoped = caller.scope(method, frame.get("data"))
            ctx = CallContext("ws", client, str(event_id or secrets.token_hex(8)), caller.customer)
            data = await self.dispatcher.call(method, scoped, ctx)
        except RpcError as exc:
            return _frame(endpoint, event_id, None, exc)
        return _frame(endpoint, event_id, data, None)


def _permit_every_call(caller: Caller, payload: Any) -> None:
    """Refuse a call (a batch whole) the caller may not make, before any of it runs."""
    for item in payload if isinstance(payload, list) else [payload]:
        if isinstance(item, dict) and isinstance(item.get("method"), str):
            caller.scope(item["method"], item.get("params"))


def _valid_id(value: Any) -> bool:
    return value is None or (
        isinstance(value, (str, int))
        and not isinstance(value, bool)
        and (not isinstance(value, str) or len(value) <= 256)
        and (not isinstance(value, int) or abs(value) < 2**63)
    )


def _rpc_error(exc: RpcError, request_id: Any) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "error": answer_of(exc).rpc_object()}


def _frame(endpoint: str | None, event_id: Any, data: Any, exc: RpcError | None) -> dict[str, Any]:
    return {
        "endpoint": endpoint,
        **envelope(data, exc),
        "event": {"id": event_id, "date": int(time.time() * 1000)},
    }

"""The private port's three transports over one MethodRegistry.

1. JSON-RPC 2.0 at ``POST /`` (batches, notifications, standard error codes). Errors are
   answered with HTTP 200 and the original 0xBTCpay's codes and messages.
2. ``POST /api/v0/rpc/<method>``: the request body is the params object; the answer is
   ``{"data": <result|null>, "error": {"status": bool, "code": int, "message": str}}``.
3. WebSocket ``GET /ws``: frames ``{"endpoint": "payment:<name>", "data": {...},
   "event": {"id": str, "date": int}}``; the reply carries the same endpoint and event id.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

import structlog
from aiohttp import WSMsgType, web

from xbtcpay.core.errors import (
    InternalError,
    InvalidRequest,
    MethodNotFound,
    ParseError,
    RpcError,
    StorageError,
)
from xbtcpay.core.jsonio import JsonError, dumps, loads
from xbtcpay.core.params import check_postback_target
from xbtcpay.plugin_api import CallContext
from xbtcpay.web.keys import CLIENT_IP, CONFIG, REGISTRY

log = structlog.get_logger("xbtcpay.rpc")
MAX_BATCH = 100
_NO_REPLY = object()


def _json(body: Any, status: int = 200) -> web.Response:
    return web.Response(text=dumps(body), status=status, content_type="application/json")


async def _read_body(request: web.Request) -> bytes | None:
    """The whole body, or None when it exceeds rpc.max_body (Content-Length or chunked)."""
    return await read_limited(request, request.app[CONFIG].rpc.max_body)


async def read_limited(request: web.Request, limit: int) -> bytes | None:
    """The whole body, or None when it is longer than ``limit`` bytes (or client_max_size).

    Read with ``request.read()``, which keeps the body on the request: the public port's
    input guard has read it already, and a second reader of ``request.content`` would find
    the stream drained and see an empty body. Past client_max_size aiohttp stops reading.
    """
    if request.content_length is not None and request.content_length > limit:
        return None
    try:
        body = await request.read()
    except web.HTTPRequestEntityTooLarge:
        return None
    return None if len(body) > limit else body


def _error(exc: RpcError, request_id: Any) -> dict[str, Any]:
    error: dict[str, Any] = {"code": exc.code, "message": exc.message}
    if exc.data is not None:
        error["data"] = exc.data
    return {"jsonrpc": "2.0", "id": request_id, "error": error}


async def jsonrpc(request: web.Request) -> web.Response:
    body = await _read_body(request)
    if body is None:
        return _json(_error(InvalidRequest("body too large"), None), status=413)
    try:
        payload = loads(body)
    except JsonError:
        return _json(_error(ParseError(), None))
    ctx = CallContext("jsonrpc", request.get(CLIENT_IP, request.remote or ""), secrets.token_hex(8))
    if isinstance(payload, list):
        if not payload or len(payload) > MAX_BATCH:
            return _json(_error(InvalidRequest(f"batch must hold 1..{MAX_BATCH} calls"), None))
        replies = [await _one(request, item, ctx) for item in payload]
        replies = [r for r in replies if r is not _NO_REPLY]
        return _json(replies) if replies else web.Response(status=204)
    reply = await _one(request, payload, ctx)
    return web.Response(status=204) if reply is _NO_REPLY else _json(reply)


def _valid_id(value: Any) -> bool:
    return value is None or (
        isinstance(value, (str, int))
        and not isinstance(value, bool)
        and (not isinstance(value, str) or len(value) <= 256)
        and (not isinstance(value, int) or abs(value) < 2**63)
    )


async def _one(request: web.Request, item: Any, ctx: CallContext) -> Any:
    if not isinstance(item, dict):
        return _error(InvalidRequest(), None)
    request_id = item.get("id")
    if (
        item.get("jsonrpc") != "2.0"
        or not isinstance(item.get("method"), str)
        or not _valid_id(request_id)
    ):
        return _error(InvalidRequest(), request_id if _valid_id(request_id) else None)
    params = item.get("params")
    if "params" in item and not isinstance(params, (dict, list)):
        return _error(InvalidRequest(), request_id)
    if item["method"] == "start_payment" and params is None:
        return _error(InvalidRequest(), request_id)  # the original required params
    is_notification = "id" not in item
    try:
        result = await call_method(request, item["method"], params, ctx)
    except RpcError as exc:
        return _NO_REPLY if is_notification else _error(exc, request_id)
    return _NO_REPLY if is_notification else {"jsonrpc": "2.0", "id": request_id, "result": result}


async def call_method(request: web.Request, method: str, params: Any, ctx: CallContext) -> Any:
    """Call through the registry; any unexpected failure becomes InternalError (logged)."""
    structlog.contextvars.bind_contextvars(method=method, transport=ctx.transport)
    try:
        check_postback_target(params, allow_private=request.app[CONFIG].postback.allow_private)
        return await request.app[REGISTRY].call(method, params, ctx)
    except RpcError:
        raise
    except Exception as exc:
        if isinstance(exc, StorageError):
            raise
        log.exception("rpc.method_failed")
        raise InternalError() from exc
    finally:
        structlog.contextvars.unbind_contextvars("method", "transport")


def _envelope(data: Any, exc: RpcError | None) -> dict[str, Any]:
    if exc is None:
        return {"data": data, "error": {"status": False, "code": 0, "message": ""}}
    return {"data": None, "error": {"status": True, "code": exc.code, "message": exc.message}}


_HTTP_STATUS = {-32700: 400, -32600: 400, -32601: 404, -32602: 400, -32603: 500}


async def http_api(request: web.Request) -> web.Response:
    """POST /api/v0/rpc/<method> with the params object as body."""
    body = await _read_body(request)
    if body is None:
        return _json(_envelope(None, InvalidRequest("body too large")), status=413)
    try:
        params = loads(body) if body.strip() else {}
    except JsonError:
        return _json(_envelope(None, ParseError()), status=400)
    ctx = CallContext("http", request.get(CLIENT_IP, request.remote or ""), secrets.token_hex(8))
    try:
        data = await call_method(request, request.match_info["method"], params, ctx)
    except RpcError as exc:
        status = _HTTP_STATUS.get(exc.code, exc.http_status if exc.http_status != 200 else 400)
        return _json(_envelope(None, exc), status=status)
    return _json(_envelope(data, None))


async def websocket(request: web.Request) -> web.WebSocketResponse:
    """GET /ws: one call per frame; replies carry the request's endpoint and event id."""
    ws = web.WebSocketResponse(heartbeat=30, max_msg_size=request.app[CONFIG].rpc.max_body)
    await ws.prepare(request)
    client = request.get(CLIENT_IP, request.remote or "")
    async for msg in ws:
        if msg.type != WSMsgType.TEXT:
            if msg.type == WSMsgType.BINARY:
                await ws.send_str(dumps(_frame(None, None, None, ParseError("text frames only"))))
            continue
        await ws.send_str(dumps(await _ws_call(request, msg.data, client)))
    return ws


async def _ws_call(request: web.Request, text: str, client: str) -> dict[str, Any]:
    try:
        frame = loads(text)
    except JsonError:
        return _frame(None, None, None, ParseError())
    if not isinstance(frame, dict):
        return _frame(None, None, None, InvalidRequest("frame must be an object"))
    endpoint = frame.get("endpoint")
    event: dict[str, Any] = frame["event"] if isinstance(frame.get("event"), dict) else {}
    event_id = event.get("id") if isinstance(event.get("id"), (str, int)) else None
    if not isinstance(endpoint, str):
        return _frame(None, event_id, None, InvalidRequest("missing endpoint"))
    method = endpoint.replace(":", ".", 1)
    ctx = CallContext("ws", client, str(event_id or secrets.token_hex(8)))
    try:
        data = await call_method(request, method, frame.get("data"), ctx)
    except MethodNotFound as exc:
        return _frame(endpoint, event_id, None, exc)
    except RpcError as exc:
        return _frame(endpoint, event_id, None, exc)
    return _frame(endpoint, event_id, data, None)


def _frame(endpoint: str | None, event_id: Any, data: Any, exc: RpcError | None) -> dict[str, Any]:
    return {
        "endpoint": endpoint,
        **_envelope(data, exc),
        "event": {"id": event_id, "date": int(time.time() * 1000)},
    }

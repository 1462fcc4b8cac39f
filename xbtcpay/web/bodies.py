"""Request bodies read within a limit, JSON answers written one way, the ``{data, error}`` shape."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from xbtcpay.core.errors import RpcError
from xbtcpay.core.jsonio import dumps
from xbtcpay.web.errors import answer_of

NO_ERROR: dict[str, Any] = {"status": False, "code": 0, "message": ""}


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


def json_answer(body: Any, status: int = 200) -> web.Response:
    """A JSON answer, serialized by ``xbtcpay.core.jsonio`` like every other."""
    return web.Response(text=dumps(body), status=status, content_type="application/json")


def envelope(data: Any, exc: RpcError | None) -> dict[str, Any]:
    """``{"data": <result|null>, "error": {"status", "code", "message"}}``."""
    if exc is None:
        return {"data": data, "error": dict(NO_ERROR)}
    return {"data": None, "error": answer_of(exc).envelope_error()}


def refusal(exc: RpcError) -> web.Response:
    """``exc`` as a ``{data, error}`` answer with its status from the error table."""
    return json_answer(envelope(None, exc), answer_of(exc).api_status)

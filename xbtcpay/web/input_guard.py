"""Bodies no handler can use are answered 400 before any handler runs (public port).

Every route of xbtcpay and its plugins takes text: JSON, form fields or a JWS. A body that is
not UTF-8, or JSON-looking and deeper than ``jsonio.MAX_DEPTH`` or holding a lone surrogate,
is refused here with one log line (never the body), so an unauthenticated client cannot make
a handler raise and flood the log with tracebacks. On the private port the JSON-RPC reader
refuses the same bodies itself (Parse error, as the original answered).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import structlog
from aiohttp import web

from xbtcpay.core.jsonio import JsonError, check

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
log = structlog.get_logger("xbtcpay.web")
_JSON_START = (b"{", b"[", b'"')


def input_guard_middleware() -> Callable[..., Awaitable[web.StreamResponse]]:
    @web.middleware
    async def input_guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.can_read_body and request.method in ("POST", "PUT", "PATCH"):
            body = await request.read()  # bounded by client_max_size (413), kept for the handler
            problem = body_problem(body, request.content_type)
            if problem is not None:
                log.warning(
                    "http.bad_input",
                    path=request.path,
                    problem=problem,
                    client_ip=request.remote,
                    size=len(body),
                )
                return web.json_response({"error": f"bad request: {problem}"}, status=400)
        return await handler(request)

    return input_guard


def body_problem(body: bytes, content_type: str) -> str | None:
    """Why ``body`` is unusable, or None."""
    looks_json = content_type.endswith("json") or body.lstrip()[:1] in _JSON_START
    try:
        if looks_json:
            check(body)
        else:
            body.decode("utf-8")
    except JsonError as exc:
        return str(exc)
    except UnicodeDecodeError:
        return "body is not UTF-8"
    return None

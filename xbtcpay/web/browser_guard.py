"""The private port is for the shop's server, not for browsers.

A page on another site, open in a browser on a whitelisted machine, could otherwise talk to
the private port: a cross-site WebSocket (browsers do not apply CORS to ``/ws``), a "simple"
``text/plain`` POST that needs no preflight, or a DNS-rebound name pointing at the port.
Three checks, before the whitelist's answer is used:

- ``Host`` must be the listen address, a loopback name or address when listening on loopback
  (or on every address), any IP literal when listening on every address, or one of
  ``rpc.allowed_hosts`` (a rebound name is none of these); 421 otherwise.
- A request carrying ``Origin`` (browsers send it; server-side clients do not) is refused
  unless the origin is listed in ``rpc.allowed_origins`` (empty by default); 403.
- JSON-RPC POSTs must say ``Content-Type: application/json`` (what the original 0xBTCpay's
  integration guide sends); the types a browser may send cross-site without a preflight are
  therefore refused; 415. The nexx-compatible routes (``/v3.1/...``) also take form bodies
  and bodiless POSTs, as nexx's clients send them: a browser's cross-site form post carries
  ``Origin``, which the rule above refuses.

The dashboard under ``/admin`` is for browsers: only its ``Host`` is checked here; its own
guard (``xbtcpay.web.admin.guard``) admits same-origin changes carrying a CSRF token.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Awaitable, Callable

import structlog
from aiohttp import web

from xbtcpay.web.call_params import FORM_TYPES
from xbtcpay.web.nexx_routes import PATH_PREFIX
from xbtcpay.web.settings import RpcConfig

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
log = structlog.get_logger("xbtcpay.web")
JSON_TYPES = frozenset({"application/json", "application/json-rpc", "application/jsonrequest"})
# ServiceStack's JSV (POST /User/Purchase): like JSON, no type a browser may send cross-site
# without a preflight, which the Origin rule refuses.
JSV_TYPE = "text/jsv"
_WILDCARDS = ("0.0.0.0", "::", "")  # noqa: S104 - listen values compared against, never bound
_LOOPBACK_NAMES = ("localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback")


def allowed_hosts(rpc: RpcConfig) -> frozenset[str]:
    """Host names (lower case, no port) the private port answers to; IP literals aside."""
    listen = rpc.listen.host.lower()
    names = {listen, *(h.lower() for h in rpc.allowed_hosts)}
    if listen in _WILDCARDS or _is_loopback(listen):
        names.update(_LOOPBACK_NAMES)
    return frozenset(names)


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host in _LOOPBACK_NAMES


def host_allowed(header: str | None, rpc: RpcConfig, names: frozenset[str]) -> bool:
    if not header:
        return True  # HTTP/1.0 without Host: no browser sends that
    host = header.strip().lower()
    if host.startswith("["):
        host = host[1 : host.find("]")] if "]" in host else host
    elif host.count(":") == 1:
        host = host.rsplit(":", 1)[0]
    host = host.rstrip(".")
    if host in names:
        return True
    try:
        ip = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    # An IP literal cannot be rebound: any one when listening on every address, a loopback
    # one when listening on loopback (127.0.0.1 for a "localhost" listener, say).
    return rpc.listen.host in _WILDCARDS or (ip.is_loopback and _is_loopback(rpc.listen.host))


def browser_guard_middleware(rpc: RpcConfig) -> Callable[..., Awaitable[web.StreamResponse]]:
    names = allowed_hosts(rpc)
    origins = frozenset(rpc.allowed_origins)
    # every call names the same Host or two: decide each one once (bounded: a client
    # sending many names cannot grow it)
    allowed = functools.lru_cache(maxsize=1024)(lambda host: host_allowed(host, rpc, names))

    @web.middleware
    async def browser_guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        refusal = _refusal(request, allowed, origins)
        if refusal is not None:
            status, why = refusal
            log.warning(
                "rpc.browser_refused",
                reason=why,
                path=request.path,
                client_ip=request.remote,
                origin=request.headers.get("Origin"),
                host=request.headers.get("Host", "")[:255],
            )
            return web.json_response({"error": why}, status=status)
        return await handler(request)

    return browser_guard


def _refusal(
    request: web.Request, host_allowed: Callable[[str | None], bool], origins: frozenset[str]
) -> tuple[int, str] | None:
    if not host_allowed(request.headers.get("Host")):
        return 421, "host not allowed (rpc.allowed_hosts)"
    if request.path == "/admin" or request.path.startswith("/admin/"):
        return None  # the dashboard's forms: same-origin and CSRF checks of its own
    origin = request.headers.get("Origin")
    if origin is not None and origin not in origins:
        return 403, "origin not allowed (rpc.allowed_origins)"
    if (
        request.method == "POST"
        and request.content_type not in JSON_TYPES
        and request.content_type != JSV_TYPE
        and not _form_route(request)
    ):
        return 415, "Content-Type must be application/json"
    return None


def _form_route(request: web.Request) -> bool:
    """A nexx-compatible call: a form body, or no body at all (parameters in the query)."""
    if not request.path.startswith(PATH_PREFIX):
        return False
    return request.content_type in FORM_TYPES or not request.can_read_body

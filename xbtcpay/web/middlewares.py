"""Middlewares: IP whitelist, request ids and latency, errors mapped to clean answers."""

from __future__ import annotations

import contextvars
import functools
import ipaddress
import itertools
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from typing import Any

import structlog
from aiohttp import web

from xbtcpay.core.errors import RpcError
from xbtcpay.core.metrics import Metrics
from xbtcpay.core.settings import IPNetwork
from xbtcpay.web.errors import answer_of
from xbtcpay.web.keys import CLIENT_IP
from xbtcpay.web.settings import RpcConfig

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
log = structlog.get_logger("xbtcpay.web")
# One contextvar set/reset per request, read by the add_request_id log processor.
_REQUEST_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)


def client_ip(
    request: web.Request,
    trusted_proxies: tuple[IPNetwork, ...],
    forwarded_header: str = "X-Forwarded-For",
) -> str:
    """The peer address; a forwarding header only counts when the peer is a trusted proxy.

    Only ``forwarded_header`` (the one header the trusted proxy writes) is read; the other
    one passes through a proxy untouched, so it is the client's own and never decides.
    Every line of it is read in order as one list; the right-most hop that is not itself a
    trusted proxy is the client, so a client cannot prepend a forged address.
    """
    peer = request.remote or ""
    if not trusted_proxies or not _in(peer, trusted_proxies):
        return peer
    for hop in reversed(forwarded_hops(request.headers, forwarded_header)):
        if not _in(hop, trusted_proxies):
            return hop
    return peer


def forwarded_hops(headers: Mapping[str, str], header: str = "X-Forwarded-For") -> list[str]:
    """Hops named by ``header`` (``X-Forwarded-For`` or RFC 7239 ``Forwarded``), left to right."""
    getall = getattr(headers, "getall", None)
    lines = getall(header, []) if getall else [headers.get(header, "")]
    if header.lower() == "forwarded":
        return [_forwarded_for(element) for line in lines for element in line.split(",")]
    return [hop.strip() for line in lines for hop in line.split(",") if hop.strip()]


def _forwarded_for(element: str) -> str:
    """The ``for=`` of one RFC 7239 element: quotes, brackets and the port removed."""
    for pair in element.split(";"):
        name, _, value = pair.strip().partition("=")
        if name.lower() != "for":
            continue
        value = value.strip().strip('"')
        if value.startswith("["):
            return value[1 : value.find("]")] if "]" in value else ""
        return value.rsplit(":", 1)[0] if value.count(":") == 1 else value
    return ""  # an element without for= names an unknown (so untrusted) hop


def _in(address: str, networks: tuple[IPNetwork, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip in net for net in networks)


def whitelist_middleware(rpc: RpcConfig) -> Callable[..., Awaitable[web.StreamResponse]]:
    # A shop calls from a handful of addresses: parsing each one once (not on every call)
    # is enough; the memo is bounded, so clients naming many addresses cannot grow it.
    whitelisted = functools.lru_cache(maxsize=4096)(lambda address: _in(address, rpc.ip_whitelist))

    @web.middleware
    async def whitelist(request: web.Request, handler: Handler) -> web.StreamResponse:
        ip = client_ip(request, rpc.trusted_proxies, rpc.forwarded_header)
        if not whitelisted(ip):
            log.warning("rpc.forbidden", client_ip=ip, path=request.path)
            return web.json_response({"error": "forbidden"}, status=403)
        request[CLIENT_IP] = ip
        return await handler(request)

    return whitelist


def context_middleware(metrics: Metrics, port: str) -> Callable[..., Awaitable[web.StreamResponse]]:
    """Bind a request id to every log line; time the request; never answer a bare 500."""
    prefix = secrets.token_hex(4)
    counter = itertools.count(1)
    timers: dict[str, Any] = {}

    @web.middleware
    async def context(request: web.Request, handler: Handler) -> web.StreamResponse:
        request_id = request.headers.get("X-Request-Id", "")[:64] or f"{prefix}{next(counter):x}"
        token = _REQUEST_ID.set(request_id)
        started = time.perf_counter()
        try:
            response = await handler(request)
        except web.HTTPException:
            raise
        except RpcError as exc:  # a storage outage included (503)
            answer = answer_of(exc)
            response = web.json_response({"error": answer.message}, status=answer.route_status)
        except Exception:
            log.exception("http.unhandled", path=request.path)
            response = web.json_response({"error": "internal error"}, status=500)
        finally:
            _REQUEST_ID.reset(token)
            resource = request.match_info.route.resource
            name = resource.canonical if resource is not None else "unmatched"
            timer = timers.get(name)
            if timer is None:
                timer = timers[name] = metrics.request_latency.labels(port, name)
            timer.observe(time.perf_counter() - started)
        response.headers["X-Request-Id"] = request_id
        return response

    return context


def add_request_id(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog processor: the current request's id on every line logged while serving it."""
    request_id = _REQUEST_ID.get()
    if request_id is not None:
        event.setdefault("request_id", request_id)
    return event

"""The dashboard's door: session cookie, CSRF token, same-origin changes, security headers.

Every request under ``/admin`` passes ``dashboard_middleware``:

- the answer carries a strict Content-Security-Policy (own scripts, styles and images
  only, no inline code, no framing), ``no-store`` and ``nosniff``;
- ``/admin/login`` and ``/admin/static/`` need no session; any other page without a live
  session sends a browser to the login page (a change gets 401);
- a change (any method but GET/HEAD) must come from the dashboard's own origin (when the
  browser names one) and carry the session's CSRF token (form field ``csrf`` or header
  ``X-CSRF-Token``), else 403 and nothing happens.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable, Callable
from typing import Final
from urllib.parse import quote

from aiohttp import web

from xbtcpay.web.admin.accounts import Accounts, SignedIn
from xbtcpay.web.keys import CLIENT_IP
from xbtcpay.web.middlewares import client_ip
from xbtcpay.web.settings import RpcConfig

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
PREFIX: Final = "/admin"
COOKIE: Final = "xbtcpay_admin"
SIGNED_IN: web.RequestKey[SignedIn] = web.RequestKey("admin_signed_in")
CSP: Final = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self';"
    " connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
_OPEN: Final = (f"{PREFIX}/login", f"{PREFIX}/static/")
_SAFE_METHODS: Final = frozenset({"GET", "HEAD"})


def is_dashboard(path: str) -> bool:
    return path == PREFIX or path.startswith(PREFIX + "/")


def over_tls(request: web.Request, rpc: RpcConfig) -> bool:
    """Whether the browser reached us over TLS: directly, or through a trusted proxy that
    says so in ``X-Forwarded-Proto``."""
    if request.secure:
        return True
    try:
        peer = ipaddress.ip_address((request.remote or "").split("%", 1)[0])
    except ValueError:
        return False
    trusted = any(peer in net for net in rpc.trusted_proxies)
    proto = request.headers.get("X-Forwarded-Proto", "").split(",")[-1].strip().lower()
    return trusted and proto == "https"


def _same_origin(request: web.Request) -> bool:
    origin = request.headers.get("Origin")
    if origin is None:
        return True  # no browser names none on a POST today; the CSRF token still decides
    host = request.headers.get("Host", "")
    return origin in (f"http://{host}", f"https://{host}")


def dashboard_middleware(
    accounts: Accounts, rpc: RpcConfig
) -> Callable[..., Awaitable[web.StreamResponse]]:
    @web.middleware
    async def dashboard(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not is_dashboard(request.path):
            return await handler(request)
        if CLIENT_IP not in request:
            request[CLIENT_IP] = client_ip(request, rpc.trusted_proxies, rpc.forwarded_header)
        try:
            response = await _admitted(request, handler, accounts)
        except web.HTTPException as exc:  # redirects and refusals carry the headers too
            _harden(exc)
            raise
        _harden(response)
        return response

    return dashboard


async def _admitted(
    request: web.Request, handler: Handler, accounts: Accounts
) -> web.StreamResponse:
    changing = request.method not in _SAFE_METHODS
    if changing and not _same_origin(request):
        return _plain(403, "This change must come from the dashboard's own pages.")
    if request.path.startswith(_OPEN):
        return await handler(request)
    who = await accounts.signed_in(request.cookies.get(COOKIE))
    if who is None:
        if changing:
            return _plain(401, "Your session has ended. Log in again.")
        target = quote(request.path_qs, safe="/?=&")
        raise web.HTTPSeeOther(f"{PREFIX}/login?next={target}")
    if changing:
        presented = request.headers.get("X-CSRF-Token")
        if presented is None and request.content_type in (
            "application/x-www-form-urlencoded",
            "multipart/form-data",
        ):
            presented = str((await request.post()).get("csrf", ""))
        if not who.csrf_ok(presented):
            return _plain(403, "The form's security token is missing or wrong. Reload the page.")
    request[SIGNED_IN] = who
    return await handler(request)


def _plain(status: int, text: str) -> web.Response:
    return web.Response(status=status, text=text, content_type="text/plain")


def _harden(response: web.StreamResponse | web.HTTPException) -> None:
    if isinstance(response, web.StreamResponse) and response.prepared:
        return
    headers = response.headers
    headers["Content-Security-Policy"] = CSP
    headers["X-Content-Type-Options"] = "nosniff"
    headers["Referrer-Policy"] = "same-origin"
    headers["X-Frame-Options"] = "DENY"
    headers.setdefault("Cache-Control", "no-store")

"""API keys on the private port: ``Authorization: Bearer <key>`` checked against a scope.

``rpc.auth`` says who may use the private port: ``whitelist`` (the default, and the
original behaviour: any caller from ``rpc.ip_whitelist``), ``keys`` (any address with a valid
key) or ``both`` (a whitelisted address with a valid key).

A key reads ``xbk_<id>_<secret>``; the id finds the stored row, the secret's SHA-256 hash
must match (the secret carries 256 random bits, so a fast hash is as good as a slow one).
The check happens in two places:

- ``key_middleware`` authenticates every private route but ``/healthz`` and the dashboard
  (``/admin``, which has sessions of its own) before anything else is read: a missing, unknown, forged, revoked or expired key is 401; a route that is
  not a transport (``/metrics``, ``/User/Purchase``) is 403 without its scope.
- ``KeyPolicy`` (the port policy of the three transports) refuses a method outside the
  key's scopes with 403 (a JSON-RPC batch is refused whole before any call runs); an open
  WebSocket re-reads its key for every frame, so revoking ends it at its next call.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Awaitable, Callable
from typing import Any, Final

import structlog
from aiohttp import web

from xbtcpay.commerce.errors import Forbidden, Unauthorized
from xbtcpay.core.errors import RpcError
from xbtcpay.storage.api_keys import ApiKey, ApiKeyStore
from xbtcpay.web.admin.guard import is_dashboard
from xbtcpay.web.bodies import json_answer, refusal
from xbtcpay.web.errors import answer_of
from xbtcpay.web.keys import CLIENT_IP
from xbtcpay.web.middlewares import client_ip
from xbtcpay.web.policy import ShopPolicy
from xbtcpay.web.scopes import OPEN_ROUTES, ROUTE_SCOPES, scope_of
from xbtcpay.web.settings import RpcConfig

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
log = structlog.get_logger("xbtcpay.api_keys")
PREFIX: Final = "xbk"
API_KEY: web.RequestKey[ApiKey] = web.RequestKey("api_key")


def secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def mint_key() -> tuple[str, str, str]:
    """A new key: (id, the whole key to hand out once, the hash of its secret to store)."""
    key_id = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    return key_id, f"{PREFIX}_{key_id}_{secret}", secret_hash(secret)


def split_key(key: str) -> tuple[str, str] | None:
    """(id, secret) of a well-formed key, else None."""
    prefix, _, rest = key.partition("_")
    key_id, _, secret = rest.partition("_")
    if prefix != PREFIX or len(key_id) != 16 or not secret or len(key) > 200:
        return None
    return key_id, secret


class KeyChecker:
    """Finds the stored key a presented one names, or the RpcError refusing it."""

    def __init__(self, store: ApiKeyStore, clock: Callable[[], float]) -> None:
        self.store = store
        self.clock = clock

    async def check(self, header: str | None) -> ApiKey:
        scheme, _, presented = (header or "").strip().partition(" ")
        if not header:
            raise Unauthorized("an API key is required (Authorization: Bearer <key>)")
        if scheme.lower() != "bearer":
            raise Unauthorized("the Authorization header must be: Bearer <key>")
        parts = split_key(presented.strip())
        key = None if parts is None else await self.store.get(parts[0])
        if (
            key is None
            or parts is None
            or not hmac.compare_digest(key.secret_hash, secret_hash(parts[1]))
        ):
            raise Unauthorized("invalid API key")
        return self.live(key)

    def live(self, key: ApiKey) -> ApiKey:
        """``key`` while it is usable, else the refusal saying why it is not."""
        now = self.clock()
        if key.revoked_at is not None and key.revoked_at <= now:
            raise Unauthorized("API key revoked")
        if not key.usable_at(now):
            raise Unauthorized("API key expired")
        return key


def key_middleware(
    rpc: RpcConfig, checker: KeyChecker
) -> Callable[..., Awaitable[web.StreamResponse]]:
    """Authenticate every private route but /healthz (``rpc.auth`` keys or both)."""

    @web.middleware
    async def api_key(request: web.Request, handler: Handler) -> web.StreamResponse:
        if CLIENT_IP not in request:  # rpc.auth: keys has no whitelist to find the client
            request[CLIENT_IP] = client_ip(request, rpc.trusted_proxies, rpc.forwarded_header)
        if request.path in OPEN_ROUTES or is_dashboard(request.path):
            return await handler(request)  # the dashboard has sessions of its own
        try:
            key = await checker.check(request.headers.get("Authorization"))
            needed = ROUTE_SCOPES.get(request.path)
            if needed is not None and needed not in key.scopes:
                raise Forbidden(f"API key {key.id} lacks the scope {needed}")
        except RpcError as exc:
            return _refused(request, exc)
        request[API_KEY] = key
        return await handler(request)

    return api_key


def _refused(request: web.Request, exc: RpcError) -> web.Response:
    log.warning(
        "rpc.key_refused",
        why=exc.detail,
        path=request.path,
        client_ip=request.get(CLIENT_IP, request.remote),
    )
    answer = answer_of(exc)
    if request.path == "/":
        error = {"jsonrpc": "2.0", "id": None, "error": answer.rpc_object()}
        response = json_answer(error, answer.api_status)
    else:
        response = refusal(exc)
    if answer.api_status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="xbtcpay"'
    return response


class KeyCaller:
    """The shop's backend holding ``key``: any params, only the methods of its scopes."""

    customer = None

    def __init__(self, key: ApiKey, checker: KeyChecker) -> None:
        self.key = key
        self.checker = checker

    def check_live(self) -> None:
        self.checker.live(self.key)

    async def recheck(self) -> None:
        """Read the key again: a long connection ends with its key's revocation."""
        key = await self.checker.store.get(self.key.id)
        if key is None:
            raise Unauthorized("invalid API key")
        self.key = self.checker.live(key)

    def scope(self, method: Any, params: Any) -> Any:
        if isinstance(method, str):
            needed = scope_of(method)
            if needed not in self.key.scopes:
                raise Forbidden(f"API key {self.key.id} lacks the scope {needed} for {method}")
        return params


class KeyPolicy(ShopPolicy):
    """The private port with ``rpc.auth`` keys or both: the shop, limited by its key."""

    def __init__(self, checker: KeyChecker) -> None:
        self.checker = checker

    async def admit(self, request: web.Request) -> KeyCaller:
        key = request.get(API_KEY)
        if key is None:  # key_middleware stands in front of every transport
            raise Unauthorized("an API key is required (Authorization: Bearer <key>)")
        return KeyCaller(key, self.checker)

    def refused(self, request: web.Request, exc: RpcError) -> None:
        log.warning("rpc.key_refused", why=exc.detail, path=request.path)

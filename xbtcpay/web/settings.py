"""The ``rpc:`` and ``public:`` sections: the two ports, who may reach them, their limits.

``PageSettings`` and ``WebSettings`` are what the pages and transports read of the whole
configuration; the root's ``Config`` satisfies them, so web never imports the root.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from xbtcpay.chain.settings import ChainConfig
from xbtcpay.core.settings import (
    AssetConfig,
    Confirmations,
    IPNetwork,
    Listen,
    PostbackConfig,
    Reader,
)


@dataclass(frozen=True)
class RpcConfig:
    listen: Listen
    ip_whitelist: tuple[IPNetwork, ...]
    trusted_proxies: tuple[IPNetwork, ...]
    # The one header the trusted proxies write: ``X-Forwarded-For`` or ``Forwarded``.
    forwarded_header: str = "X-Forwarded-For"
    max_body: int = 1_048_576
    allowed_origins: tuple[str, ...] = ()
    allowed_hosts: tuple[str, ...] = ()
    idle_timeout: float = 60.0
    header_timeout: float = 10.0
    max_connections_per_client: int = 0
    # who may use the port: whitelisted addresses, API keys, or a whitelisted key holder
    auth: str = "whitelist"


@dataclass(frozen=True)
class PublicConfig:
    listen: Listen
    base_url: str
    cors_origins: tuple[str, ...]
    status_cache_size: int = 100_000
    status_cache_warm: bool = False
    idle_timeout: float = 15.0
    header_timeout: float = 10.0
    max_connections_per_client: int = 64


class PageSettings(Protocol):
    """What the status and checkout pages read: assets, the chain, confirmations."""

    @property
    def assets(self) -> Mapping[str, AssetConfig]: ...
    @property
    def chain(self) -> ChainConfig: ...
    def chain_of(self, asset: str) -> ChainConfig | None: ...
    def confirmations_for(self, asset: str) -> Confirmations: ...


class WebSettings(PageSettings, Protocol):
    """What the transports read besides the pages': body limits, postback target rules."""

    @property
    def rpc(self) -> RpcConfig: ...
    @property
    def public(self) -> PublicConfig: ...
    @property
    def postback(self) -> PostbackConfig: ...


_LIMIT_KEYS = ("idle_timeout", "header_timeout", "max_connections_per_client")
_RPC_KEYS = (
    "listen",
    "ip_whitelist",
    "trusted_proxies",
    "forwarded_header",
    "max_body",
    "allowed_origins",
    "allowed_hosts",
    "auth",
    *_LIMIT_KEYS,
)
RPC_AUTH_MODES = ("whitelist", "keys", "both")
_PUBLIC_KEYS = (
    "listen",
    "base_url",
    "cors_origins",
    "status_cache_size",
    "status_cache_warm",
    *_LIMIT_KEYS,
)


def parse_rpc(r: Reader, s: dict[str, Any]) -> RpcConfig:
    r.known("rpc", s, _RPC_KEYS)
    return RpcConfig(
        listen=r.listen("rpc.listen", s.get("listen", "127.0.0.1:8889")),
        ip_whitelist=r.networks(
            "rpc.ip_whitelist", s.get("ip_whitelist", ["127.0.0.1/32", "::1/128"])
        ),
        trusted_proxies=r.networks("rpc.trusted_proxies", s.get("trusted_proxies", [])),
        forwarded_header=_forwarded_header(r, s.get("forwarded_header", "X-Forwarded-For")),
        max_body=r.int("rpc.max_body", s.get("max_body", 1_048_576), 1024),
        allowed_origins=r.strings("rpc.allowed_origins", s.get("allowed_origins", [])),
        allowed_hosts=r.strings("rpc.allowed_hosts", s.get("allowed_hosts", [])),
        **_connection_limits(r, "rpc", s, idle=60.0, per_client=0),
        auth=_auth(r, s.get("auth", "whitelist")),
    )


def _auth(r: Reader, value: Any) -> str:
    """``rpc.auth``: whitelist (the default), keys or both."""
    if value not in RPC_AUTH_MODES:
        r.bad("rpc.auth", f"expected whitelist, keys or both, got {value!r}")
        return "whitelist"
    return str(value)


_FORWARDED_HEADERS = {"x-forwarded-for": "X-Forwarded-For", "forwarded": "Forwarded"}


def _forwarded_header(r: Reader, value: Any) -> str:
    """``rpc.forwarded_header``: which header the trusted proxies set (the other is ignored)."""
    name = _FORWARDED_HEADERS.get(value.lower()) if isinstance(value, str) else None
    if name is None:
        r.bad("rpc.forwarded_header", f"expected X-Forwarded-For or Forwarded, got {value!r}")
        return "X-Forwarded-For"
    return name


def _connection_limits(
    r: Reader, port: str, s: dict[str, Any], *, idle: float, per_client: int
) -> dict[str, Any]:
    """``idle_timeout``, ``header_timeout`` and ``max_connections_per_client`` of one port."""
    return {
        "idle_timeout": r.number(f"{port}.idle_timeout", s.get("idle_timeout", idle), 0.1),
        "header_timeout": r.number(f"{port}.header_timeout", s.get("header_timeout", 10), 0.1),
        "max_connections_per_client": r.int(
            f"{port}.max_connections_per_client", s.get("max_connections_per_client", per_client), 0
        ),
    }


def parse_public(r: Reader, s: dict[str, Any]) -> PublicConfig:
    r.known("public", s, _PUBLIC_KEYS)
    listen = r.listen("public.listen", s.get("listen", "0.0.0.0:8888"))
    base_url = s.get("base_url")
    if base_url is None:
        host = "127.0.0.1" if listen.host in ("0.0.0.0", "::") else listen.host  # noqa: S104
        base_url = f"http://{Listen(host, listen.port)}"
    elif not isinstance(base_url, str) or not re.match(r"^https?://[^\s/]+", base_url):
        r.bad("public.base_url", f"expected an http(s) URL or null, got {base_url!r}")
        base_url = ""
    origins = s.get("cors_origins", ["*"])
    if not isinstance(origins, list) or not all(isinstance(o, str) for o in origins):
        r.bad("public.cors_origins", "expected a list of origins")
        origins = []
    return PublicConfig(
        listen,
        str(base_url).rstrip("/"),
        tuple(origins),
        status_cache_size=r.int("public.status_cache_size", s.get("status_cache_size", 100_000), 0),
        status_cache_warm=s.get("status_cache_warm", False) is True,
        **_connection_limits(r, "public", s, idle=15.0, per_client=64),
    )

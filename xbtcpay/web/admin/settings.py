"""The ``admin:`` section: where the dashboard is served and how long its sessions last."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from xbtcpay.core.settings import Listen, Reader

_KEYS = (
    "enabled",
    "listen",
    "session_lifetime",
    "session_idle",
    "login_max_failures",
    "login_max_failures_per_address",
    "login_window",
    "secure_cookie",
    "currency",
)


@dataclass(frozen=True)
class AdminConfig:
    enabled: bool = True
    # None: under /admin on the private port (rpc.listen); else a port of its own
    listen: Listen | None = None
    session_lifetime: int = 12 * 3600  # seconds from login, however active
    session_idle: int = 30 * 60  # seconds without a request
    login_max_failures: int = 5  # per user name within login_window
    login_max_failures_per_address: int = 20  # per client address within login_window
    login_window: int = 15 * 60
    secure_cookie: str = "auto"  # auto: Secure when the request came over TLS
    currency: str = "USD"  # the volumes' fiat values (when rate sources are configured)


def parse_admin(r: Reader, s: dict[str, Any]) -> AdminConfig:
    r.known("admin", s, _KEYS)
    listen = s.get("listen")
    secure = s.get("secure_cookie", "auto")
    if secure not in ("auto", "always", "never"):
        r.bad("admin.secure_cookie", f"expected auto, always or never, got {secure!r}")
        secure = "auto"
    enabled = s.get("enabled", True)
    if not isinstance(enabled, bool):
        r.bad("admin.enabled", f"expected true or false, got {enabled!r}")
        enabled = True
    currency = s.get("currency", "USD")
    if not isinstance(currency, str) or not re.match(r"^[A-Z]{3}\Z", currency):
        r.bad("admin.currency", f"expected an ISO 4217 code such as USD, got {currency!r}")
        currency = "USD"
    return AdminConfig(
        enabled=enabled,
        listen=None if listen is None else r.listen("admin.listen", listen),
        session_lifetime=r.int("admin.session_lifetime", s.get("session_lifetime", 43200), 60),
        session_idle=r.int("admin.session_idle", s.get("session_idle", 1800), 60),
        login_max_failures=r.int("admin.login_max_failures", s.get("login_max_failures", 5), 1),
        login_max_failures_per_address=r.int(
            "admin.login_max_failures_per_address",
            s.get("login_max_failures_per_address", 20),
            1,
        ),
        login_window=r.int("admin.login_window", s.get("login_window", 900), 1),
        secure_cookie=str(secure),
        currency=currency,
    )

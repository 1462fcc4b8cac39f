"""The ``plugins.inapp`` section of config.yaml, checked once at start-up."""

from __future__ import annotations

import re
from dataclasses import dataclass

from xbtcpay.plugin_api import PluginContext, PluginError, unknown_keys

# Only HMAC algorithms: the app secret is shared, so a public-key algorithm in the allow-list
# would let anyone holding the "public key" (the secret itself) forge notices.
HMAC_ALGORITHMS = {"HS256": 32, "HS384": 48, "HS512": 64}  # name -> minimum secret bytes
_COUNTRY = re.compile(r"^[A-Z]{2}\Z")
KNOWN_KEYS = (
    "app_key",
    "secret",
    "audience",
    "request_typ",
    "postback_typ",
    "chargeback_typ",
    "expiry",
    "algorithm",
    "algorithms",
    "leeway",
    "default_country",
)


@dataclass(frozen=True)
class InAppSettings:
    """Validated settings of the JWT in-app plugin."""

    app_key: str
    secret: str
    audience: str
    request_typ: str
    postback_typ: str
    chargeback_typ: str
    expiry: int
    algorithm: str
    algorithms: tuple[str, ...]
    leeway: int
    default_country: str


def load_settings(ctx: PluginContext) -> InAppSettings:
    """Parse ``ctx.settings``; PluginError lists every problem at once."""
    s = ctx.settings
    where = f"plugins.{ctx.name}"
    problems = unknown_keys(where, s, KNOWN_KEYS)

    def text(key: str, default: str | None = None) -> str:
        value = s.get(key, default)
        if not isinstance(value, str) or not value.strip():
            problems.append(f"{where}.{key}: required text")
            return ""
        return value

    def seconds(key: str, default: int, low: int) -> int:
        value = s.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            problems.append(f"{where}.{key}: whole seconds >= {low}")
            return default
        return value

    app_key, audience = text("app_key"), text("audience")
    request_typ = text("request_typ", "mozilla/payments/pay/v1")
    postback_typ = text("postback_typ", "mozilla/payments/pay/postback/v1")
    chargeback_typ = text("chargeback_typ", "mozilla/payments/pay/chargeback/v1")
    algorithm = s.get("algorithm", "HS256")
    if algorithm not in HMAC_ALGORITHMS:
        problems.append(f"{where}.algorithm: one of {', '.join(HMAC_ALGORITHMS)}")
        algorithm = "HS256"
    algorithms = s.get("algorithms", [algorithm])
    if (
        not isinstance(algorithms, list)
        or not algorithms
        or not all(a in HMAC_ALGORITHMS for a in algorithms)
    ):
        problems.append(f"{where}.algorithms: a list from {', '.join(HMAC_ALGORITHMS)}")
        algorithms = [algorithm]
    country = s.get("default_country", "US")
    if not isinstance(country, str) or not _COUNTRY.match(country):
        problems.append(f"{where}.default_country: an ISO 3166 code such as US")
        country = "US"
    expiry, leeway = seconds("expiry", 3600, 60), seconds("leeway", 60, 0)
    secret = ctx.secret("secret") or ""
    needed = max(HMAC_ALGORITHMS[a] for a in {algorithm, *algorithms})
    if len(secret.encode()) < needed:
        problems.append(
            f"{where}.secret: at least {needed} bytes for {algorithm} "
            "(RFC 7518: a key as long as the hash)"
        )
    if problems:
        raise PluginError("; ".join(problems))
    return InAppSettings(
        app_key=app_key,
        secret=secret,
        audience=audience,
        request_typ=request_typ,
        postback_typ=postback_typ,
        chargeback_typ=chargeback_typ,
        expiry=expiry,
        algorithm=algorithm,
        algorithms=tuple(algorithms),
        leeway=leeway,
        default_country=country,
    )

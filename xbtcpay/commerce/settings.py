"""The commerce sections of config.yaml, parsed into frozen dataclasses.

```yaml
sessions:
  secret: {env: XBTCPAY_SESSION_SECRET}   # HS* key of the shop-issued session tokens
  public_key: {file: session.pem}         # ES256/RS256 verification key (optional)
  algorithms: [HS256]
  leeway: 30                              # seconds of clock skew accepted on exp/nbf
  audience: [shop-app]                    # optional: the token's aud must name one of these
  issuer: https://shop.example            # optional: the token's iss must equal this
  introspect_url: https://shop.example/sessions/introspect   # optional: opaque session ids
  introspect_secret: {env: XBTCPAY_INTROSPECT_SECRET}        # optional Bearer token for it
  introspect_timeout: 5                   # seconds; when it fails, sessions answer 503
  introspect_cache: 30                    # seconds an active answer is reused (not past exp)
  introspect_negative_cache: 5            # seconds an inactive answer is reused
currencies:
  diamonds: {decimals: 0}
companies:
  default: {name: "Example Pty Ltd", tax_id: "51 824 753 556", receipt_prefix: "XB-", country: AU}
taxes:
  AU: {rate: "0.10", inclusive: true}
```
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from xbtcpay.commerce.currencies import ISO_4217, VIRTUAL_NAME, Currencies, parse_minor
from xbtcpay.commerce.taxes import TaxRate
from xbtcpay.core.postback import valid_postback_url
from xbtcpay.core.secrets import Secret, resolve_secret
from xbtcpay.core.settings import unknown_keys

HMAC_ALGORITHMS = ("HS256", "HS384", "HS512")
KEY_ALGORITHMS = ("ES256", "ES384", "RS256", "RS384", "RS512", "PS256", "EdDSA")
_PREFIX = re.compile(r"^[A-Za-z0-9_./-]{0,16}\Z")
_COUNTRY = re.compile(r"^[A-Z]{2}\Z")
_COMPANY_KEYS = ("name", "tax_id", "receipt_prefix", "country", "digits")
SESSION_KEYS = (
    "algorithms",
    "secret",
    "public_key",
    "leeway",
    "max_lifetime",
    "audience",
    "issuer",
    "introspect_url",
    "introspect_secret",
    "introspect_timeout",
    "introspect_cache",
    "introspect_negative_cache",
)


@dataclass(frozen=True)
class SessionSettings:
    """How shop-issued session tokens are verified (absent: the public port serves no
    customer-facing methods)."""

    algorithms: tuple[str, ...] = ()
    secret: Secret | None = None
    public_key: Secret | None = None
    leeway: int = 30
    max_lifetime: int = 30 * 86400
    audience: tuple[str, ...] = ()
    issuer: str | None = None
    introspect_url: str | None = None  # the shop's RFC 7662-style endpoint for opaque ids
    introspect_secret: Secret | None = None  # sent as a Bearer token to that endpoint
    introspect_timeout: float = 5.0
    introspect_cache: float = 30.0  # seconds an active answer is reused (never past exp)
    introspect_negative_cache: float = 5.0  # seconds an inactive answer is reused

    @property
    def enabled(self) -> bool:
        return bool(self.algorithms) or self.introspect_url is not None


@dataclass(frozen=True)
class Company:
    """A selling company: printed on receipts, owns one gapless receipt sequence."""

    key: str
    name: str
    tax_id: str
    receipt_prefix: str
    country: str | None = None
    digits: int = 6


DEFAULT_COMPANY = Company("default", "xbtcpay", "", "R-", None)


@dataclass(frozen=True)
class CommerceConfig:
    sessions: SessionSettings = field(default_factory=SessionSettings)
    virtual_currencies: Mapping[str, int] = field(default_factory=dict)
    companies: Mapping[str, Company] = field(default_factory=dict)
    taxes: Mapping[str, TaxRate] = field(default_factory=dict)

    def currencies(self) -> Currencies:
        return Currencies(self.virtual_currencies)

    def company(self, key: str | None = None) -> Company:
        """``companies.<key>``, else ``default``, else the first configured one."""
        if key is not None and key in self.companies:
            return self.companies[key]
        if "default" in self.companies:
            return self.companies["default"]
        return next(iter(self.companies.values()), DEFAULT_COMPANY)


def parse_commerce(raw: Mapping[str, Any], base_dir: Path, problems: list[str]) -> CommerceConfig:
    """Read the four commerce sections; append one line per problem to ``problems``."""
    config = CommerceConfig(
        sessions=_sessions(_mapping(raw, "sessions", problems), base_dir, problems),
        virtual_currencies=_currencies(_mapping(raw, "currencies", problems), problems),
        companies=_companies(_mapping(raw, "companies", problems), problems),
        taxes=_taxes(_mapping(raw, "taxes", problems), problems),
    )
    _prices(raw.get("products"), config, problems)
    return config


def _prices(products: Any, config: CommerceConfig, problems: list[str]) -> None:
    """Every catalog price names a known currency and fits its minor unit; a product's
    ``company`` names a configured company."""
    if not isinstance(products, dict):
        return
    currencies = config.currencies()
    for name, spec in products.items():
        if not isinstance(spec, dict):
            continue
        company = spec.get("company")
        if company is not None and company not in config.companies:
            problems.append(f"products.{name}.company: not one of companies")
        prices = spec.get("prices")
        for code, price in prices.items() if isinstance(prices, dict) else ():
            currency = currencies.get(code)
            if currency is None:
                problems.append(
                    f"products.{name}.prices.{code}: not an ISO 4217 currency nor one of currencies"
                )
                continue
            try:
                parse_minor(currency, price)
            except ValueError as exc:
                problems.append(f"products.{name}.prices.{code}: {exc}")


def _mapping(raw: Mapping[str, Any], name: str, problems: list[str]) -> dict[str, Any]:
    value = raw.get(name) or {}
    if not isinstance(value, dict):
        problems.append(f"{name}: expected a mapping")
        return {}
    return value


def _sessions(s: dict[str, Any], base_dir: Path, problems: list[str]) -> SessionSettings:
    if not s:
        return SessionSettings()
    problems += unknown_keys("sessions", s, SESSION_KEYS)
    opaque_only = "introspect_url" in s and "secret" not in s and "public_key" not in s
    algorithms = s.get("algorithms", [] if opaque_only else ["HS256"])
    known = HMAC_ALGORITHMS + KEY_ALGORITHMS
    if (
        not isinstance(algorithms, list)
        or (not algorithms and not opaque_only)
        or not all(isinstance(a, str) and a in known for a in algorithms)
    ):
        problems.append(
            f"sessions.algorithms: a non-empty list of {', '.join(known)}"
            " ('none' is never accepted)"
        )
        algorithms = []
    secret = public_key = None
    if any(a in HMAC_ALGORITHMS for a in algorithms):
        if "secret" not in s:
            problems.append("sessions.secret: required for HS* algorithms")
        else:
            secret = resolve_secret(s["secret"], base_dir, "sessions.secret", problems)
        if secret is not None and len(secret.reveal().encode()) < 32:
            problems.append("sessions.secret: at least 32 bytes")
    if any(a in KEY_ALGORITHMS for a in algorithms):
        if "public_key" not in s:
            problems.append("sessions.public_key: required for ES*/RS*/PS*/EdDSA algorithms")
        else:
            public_key = resolve_secret(s["public_key"], base_dir, "sessions.public_key", problems)
    leeway = s.get("leeway", 30)
    if isinstance(leeway, bool) or not isinstance(leeway, int) or not 0 <= leeway <= 300:
        problems.append("sessions.leeway: integer seconds, 0..300")
        leeway = 30
    lifetime = s.get("max_lifetime", 30 * 86400)
    if isinstance(lifetime, bool) or not isinstance(lifetime, int) or lifetime < 60:
        problems.append("sessions.max_lifetime: integer seconds >= 60")
        lifetime = 30 * 86400
    return SessionSettings(
        tuple(algorithms),
        secret,
        public_key,
        leeway,
        lifetime,
        _audience(s.get("audience"), problems),
        _issuer(s.get("issuer"), problems),
        **_introspection(s, base_dir, problems),
    )


def _introspection(s: dict[str, Any], base_dir: Path, problems: list[str]) -> dict[str, Any]:
    """``sessions.introspect_*``: where opaque session ids are checked, and how long."""
    url = s.get("introspect_url")
    if url is None:
        for key in SESSION_KEYS[7:]:
            if key in s and key != "introspect_url":
                problems.append(f"sessions.{key}: only with sessions.introspect_url")
        return {}
    out: dict[str, Any] = {"introspect_url": url}
    if not valid_postback_url(url):
        problems.append("sessions.introspect_url: an http(s) URL of the shop")
    if "introspect_secret" in s:
        out["introspect_secret"] = resolve_secret(
            s["introspect_secret"], base_dir, "sessions.introspect_secret", problems
        )
    for key, default, low, high in (
        ("introspect_timeout", 5.0, 0.1, 60.0),
        ("introspect_cache", 30.0, 0.0, 3600.0),
        ("introspect_negative_cache", 5.0, 0.0, 600.0),
    ):
        value = s.get(key, default)
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or not low <= value <= high
        ):
            problems.append(f"sessions.{key}: seconds, {low:g}..{high:g}")
            value = default
        out[key] = float(value)
    return out


def _audience(value: Any, problems: list[str]) -> tuple[str, ...]:
    """``sessions.audience``: one name or a list; a token must then name one of them, so a
    token the shop issued for another of its services is not a session here."""
    names = [value] if isinstance(value, str) else value
    if value is None:
        return ()
    if not isinstance(names, list) or not names or not all(isinstance(n, str) and n for n in names):
        problems.append("sessions.audience: a non-empty string or list of strings")
        return ()
    return tuple(names)


def _issuer(value: Any, problems: list[str]) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        problems.append("sessions.issuer: a non-empty string")
        return None
    return value


def _currencies(s: dict[str, Any], problems: list[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for name, spec in s.items():
        where = f"currencies.{name}"
        if not isinstance(name, str) or not VIRTUAL_NAME.match(name):
            problems.append(f"{where}: virtual currency names are lowercase letters, digits, _")
            continue
        if name.upper() in ISO_4217:
            problems.append(f"{where}: {name.upper()} is an ISO 4217 currency")
            continue
        if isinstance(spec, dict):
            problems += unknown_keys(where, spec, ("decimals",))
        decimals = (spec or {}).get("decimals") if isinstance(spec, dict) else None
        if isinstance(decimals, bool) or not isinstance(decimals, int) or not 0 <= decimals <= 8:
            problems.append(f"{where}.decimals: integer 0..8")
            continue
        out[name] = decimals
    return out


def _companies(s: dict[str, Any], problems: list[str]) -> dict[str, Company]:
    out: dict[str, Company] = {}
    for key, spec in s.items():
        where = f"companies.{key}"
        if not isinstance(spec, dict):
            problems.append(f"{where}: expected a mapping")
            continue
        problems += unknown_keys(where, spec, _COMPANY_KEYS)
        name, tax_id = spec.get("name"), spec.get("tax_id", "")
        prefix, country = spec.get("receipt_prefix", ""), spec.get("country")
        digits = spec.get("digits", 6)
        if not isinstance(name, str) or not name.strip():
            problems.append(f"{where}.name: required")
            continue
        if not isinstance(tax_id, str):
            problems.append(f"{where}.tax_id: expected a string")
            continue
        if not isinstance(prefix, str) or not _PREFIX.match(prefix):
            problems.append(f"{where}.receipt_prefix: up to 16 of A-Z a-z 0-9 _ . / -")
            continue
        if country is not None and (not isinstance(country, str) or not _COUNTRY.match(country)):
            problems.append(f"{where}.country: ISO 3166 alpha-2 code such as AU")
            continue
        if isinstance(digits, bool) or not isinstance(digits, int) or not 1 <= digits <= 12:
            problems.append(f"{where}.digits: integer 1..12")
            continue
        out[str(key)] = Company(str(key), name, tax_id, prefix, country, digits)
    prefixes = [c.receipt_prefix for c in out.values()]
    if len(set(prefixes)) != len(prefixes):
        problems.append("companies: every company needs its own receipt_prefix")
    return out


def _taxes(s: dict[str, Any], problems: list[str]) -> dict[str, TaxRate]:
    out: dict[str, TaxRate] = {}
    for country, spec in s.items():
        where = f"taxes.{country}"
        if not isinstance(country, str) or not _COUNTRY.match(country):
            problems.append(f"{where}: ISO 3166 alpha-2 code such as AU")
            continue
        if isinstance(spec, dict):
            problems += unknown_keys(where, spec, ("rate", "inclusive"))
        rate_raw = spec.get("rate") if isinstance(spec, dict) else None
        try:
            rate = Decimal(rate_raw) if isinstance(rate_raw, str) else None
        except InvalidOperation:
            rate = None
        if rate is None or not rate.is_finite() or not 0 <= rate < 1:
            problems.append(f'{where}.rate: a decimal string such as "0.10" (0 <= rate < 1)')
            continue
        inclusive = spec.get("inclusive", True)
        if not isinstance(inclusive, bool):
            problems.append(f"{where}.inclusive: true or false")
            continue
        out[country] = TaxRate(country, rate, inclusive)
    return out

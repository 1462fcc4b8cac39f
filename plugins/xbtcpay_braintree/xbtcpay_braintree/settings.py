"""The ``plugins.braintree`` section of config.yaml, validated once at start-up."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from xbtcpay.plugin_api import PluginContext, PluginError, refuse_unknown_keys

ENVIRONMENTS = ("sandbox", "production", "custom")
KNOWN_KEYS = (
    "environment",
    "merchant_id",
    "public_key",
    "private_key",
    "gateway_url",
    "merchant_accounts",
    "timeout",
    "reconcile_interval",
    "reconcile_after",
)


@dataclass(frozen=True)
class BraintreeSettings:
    """The private key is kept out of ``repr`` so it never reaches a log line."""

    environment: str
    merchant_id: str
    public_key: str
    private_key: str = field(repr=False)
    gateway_url: str | None = None
    merchant_accounts: Mapping[str, str] = field(default_factory=dict)
    timeout: float = 60.0
    reconcile_interval: float = 60.0
    reconcile_after: float = 120.0


def _text(raw: Mapping[str, Any], key: str) -> str:
    value = raw.get(key)
    if not isinstance(value, str) or not value.strip():
        raise PluginError(f"plugins.braintree.{key}: required")
    return value.strip()


def _number(raw: Mapping[str, Any], key: str, default: float, low: float, high: float) -> float:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise PluginError(f"plugins.braintree.{key}: expected a number between {low} and {high}")
    return float(value)


def _gateway_url(raw: Mapping[str, Any], environment: str) -> str | None:
    url = raw.get("gateway_url")
    if environment != "custom":
        return None
    parts = urlsplit(str(url or ""))
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise PluginError(
            "plugins.braintree.gateway_url: an http(s) URL is required with environment: custom"
        )
    # The SDK speaks https exactly when the port is 443.
    port = parts.port or (443 if parts.scheme == "https" else 80)
    if (parts.scheme == "https") != (port == 443):
        raise PluginError("plugins.braintree.gateway_url: https on port 443, http elsewhere")
    return str(url).rstrip("/")


def parse_settings(ctx: PluginContext) -> BraintreeSettings:
    """Build the settings from ``ctx.settings``; PluginError names the bad key."""
    raw = ctx.settings
    refuse_unknown_keys(f"plugins.{ctx.name}", raw, KNOWN_KEYS)
    environment = str(raw.get("environment", "sandbox"))
    if environment not in ENVIRONMENTS:
        raise PluginError(f"plugins.braintree.environment: one of {', '.join(ENVIRONMENTS)}")
    accounts = raw.get("merchant_accounts") or {}
    if not isinstance(accounts, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in accounts.items()
    ):
        raise PluginError("plugins.braintree.merchant_accounts: {CURRENCY: merchant account id}")
    private_key = ctx.secret("private_key")
    assert private_key is not None
    return BraintreeSettings(
        environment=environment,
        merchant_id=_text(raw, "merchant_id"),
        public_key=_text(raw, "public_key"),
        private_key=private_key,
        gateway_url=_gateway_url(raw, environment),
        merchant_accounts={k.upper(): v for k, v in accounts.items()},
        timeout=_number(raw, "timeout", 60.0, 1, 300),
        reconcile_interval=_number(raw, "reconcile_interval", 60.0, 0.05, 86400),
        reconcile_after=_number(raw, "reconcile_after", 120.0, 0, 86400),
    )

"""The ``plugins.stripe`` section of config.yaml, validated once at start-up."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from xbtcpay.plugin_api import PluginContext, PluginError, refuse_unknown_keys

DEFAULT_API_BASE = "https://api.stripe.com"
KNOWN_KEYS = (
    "api_key",
    "webhook_secret",
    "api_base",
    "publishable_key",
    "reconcile_interval",
    "reconcile_after",
    "webhook_tolerance",
    "max_network_retries",
    "timeout",
)


@dataclass(frozen=True)
class StripeSettings:
    """Secrets are kept out of ``repr`` so they never reach a log line."""

    api_key: str = field(repr=False)
    webhook_secret: str = field(repr=False)
    api_base: str = DEFAULT_API_BASE
    publishable_key: str | None = None
    reconcile_interval: float = 60.0
    reconcile_after: float = 60.0
    webhook_tolerance: int = 300
    max_network_retries: int = 2
    timeout: float = 30.0


def _number(settings: Any, key: str, default: float, low: float, high: float) -> float:
    value = settings.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise PluginError(f"plugins.stripe.{key}: expected a number between {low} and {high}")
    return float(value)


def parse_settings(ctx: PluginContext) -> StripeSettings:
    """Build the settings from ``ctx.settings``; PluginError names the bad key."""
    raw = ctx.settings
    refuse_unknown_keys(f"plugins.{ctx.name}", raw, KNOWN_KEYS)
    api_key, secret = ctx.secret("api_key"), ctx.secret("webhook_secret")
    assert api_key is not None and secret is not None
    if not api_key.startswith(("sk_", "rk_")):
        raise PluginError("plugins.stripe.api_key: expected a secret key (sk_... or rk_...)")
    if not secret.startswith("whsec_"):
        raise PluginError("plugins.stripe.webhook_secret: expected a signing secret (whsec_...)")
    api_base = str(raw.get("api_base") or DEFAULT_API_BASE).rstrip("/")
    if urlsplit(api_base).scheme not in ("http", "https") or not urlsplit(api_base).hostname:
        raise PluginError("plugins.stripe.api_base: expected an http(s) URL")
    publishable = raw.get("publishable_key")
    if publishable is not None and not str(publishable).startswith("pk_"):
        raise PluginError("plugins.stripe.publishable_key: expected pk_...")
    return StripeSettings(
        api_key=api_key,
        webhook_secret=secret,
        api_base=api_base,
        publishable_key=None if publishable is None else str(publishable),
        reconcile_interval=_number(raw, "reconcile_interval", 60.0, 0.05, 86400),
        reconcile_after=_number(raw, "reconcile_after", 60.0, 0, 86400),
        webhook_tolerance=int(_number(raw, "webhook_tolerance", 300, 1, 3600)),
        max_network_retries=int(_number(raw, "max_network_retries", 2, 0, 10)),
        timeout=_number(raw, "timeout", 30.0, 1, 300),
    )

"""``commerce:`` in config.yaml: the media access API's subscriptions, item groups, prepared
transactions and vouchers, and the default card plugin of purchases (the sessions,
currencies, companies and taxes are top-level keys)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

DEFAULT_PREPARE_TTL = 86_400
DEFAULT_MAX_PREPARED_AMOUNT = 100_000  # minor units: 1000.00 in a two-decimal currency


@dataclass(frozen=True)
class MediaAccessSettings:
    default_subscription: str | None = None
    prepare_ttl: int = DEFAULT_PREPARE_TTL  # seconds a prepared transaction stays open
    item_groups: Mapping[str, frozenset[str]] = field(default_factory=dict)
    voucher_failures: int = 5  # failed redemptions allowed per window...
    voucher_failure_window: int = 900  # ...per customer (and address with a session)
    expiry_interval: float = 30.0  # seconds between subscription expiry runs
    bridge_interval: float = 1.0  # seconds between provider-payment reads
    itemstate_cache_ttl: float = 2.0  # seconds a customer's grants stay cached
    # Largest deposit (minor units) a session may prepare: the shop may finish a prepared
    # transaction without finalPayment, so the app must not name an arbitrary sum.
    max_prepared_amount: int = DEFAULT_MAX_PREPARED_AMOUNT
    # The card plugin charging a stored card or a wallet token when the purchase names none
    # and several card plugins are enabled (one enabled plugin needs no default).
    default_card_provider: str | None = None


def _positive_int(problems: list[str], where: str, value: Any, default: int) -> int:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        problems.append(f"{where}: expected a positive integer")
        return default
    return value


def _seconds(problems: list[str], where: str, value: Any, default: float) -> float:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        problems.append(f"{where}: expected a positive number of seconds")
        return default
    return float(value)


def parse_media_access(
    raw: Any, products: Mapping[str, Mapping[str, Any]]
) -> tuple[MediaAccessSettings, list[str]]:
    """The validated section and one line per problem."""
    problems: list[str] = []
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        return MediaAccessSettings(), ["commerce: expected a mapping"]
    known = {
        "default_subscription",
        "prepare_ttl",
        "item_groups",
        "voucher_failures",
        "voucher_failure_window",
        "expiry_interval",
        "bridge_interval",
        "itemstate_cache_ttl",
        "max_prepared_amount",
        "default_card_provider",
    }
    problems += [f"commerce.{key}: unknown key (typo?)" for key in raw if key not in known]
    default = raw.get("default_subscription")
    if default is not None and (products.get(str(default)) or {}).get("type") != "subscription":
        problems.append("commerce.default_subscription: not a product of type subscription")
    groups: dict[str, frozenset[str]] = {}
    for name, items in (raw.get("item_groups") or {}).items():
        if not isinstance(items, list) or not all(isinstance(i, (str, int)) for i in items):
            problems.append(f"commerce.item_groups.{name}: expected a list of item ids")
            continue
        groups[str(name)] = frozenset(str(i) for i in items)
    interval = _seconds(problems, "commerce.expiry_interval", raw.get("expiry_interval"), 30.0)
    bridge = _seconds(problems, "commerce.bridge_interval", raw.get("bridge_interval"), 1.0)
    ttl = raw.get("itemstate_cache_ttl", 2.0)
    if isinstance(ttl, bool) or not isinstance(ttl, (int, float)) or ttl < 0:
        problems.append("commerce.itemstate_cache_ttl: expected seconds (0 turns it off)")
        ttl = 2.0
    card = raw.get("default_card_provider")
    if card is not None and (not isinstance(card, str) or not card):
        problems.append("commerce.default_card_provider: the name of an enabled card plugin")
        card = None
    settings = MediaAccessSettings(
        default_subscription=None if default is None else str(default),
        prepare_ttl=_positive_int(
            problems, "commerce.prepare_ttl", raw.get("prepare_ttl"), DEFAULT_PREPARE_TTL
        ),
        item_groups=groups,
        voucher_failures=_positive_int(
            problems, "commerce.voucher_failures", raw.get("voucher_failures"), 5
        ),
        voucher_failure_window=_positive_int(
            problems, "commerce.voucher_failure_window", raw.get("voucher_failure_window"), 900
        ),
        expiry_interval=interval,
        bridge_interval=bridge,
        itemstate_cache_ttl=float(ttl),
        max_prepared_amount=_positive_int(
            problems,
            "commerce.max_prepared_amount",
            raw.get("max_prepared_amount"),
            DEFAULT_MAX_PREPARED_AMOUNT,
        ),
        default_card_provider=card,
    )
    return settings, problems

"""Catalog prices of media products in minor units, and which product a request means."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from xbtcpay.commerce.currencies import ISO_4217
from xbtcpay.commerce.media_access.products import Terms
from xbtcpay.core.amounts import parse_money
from xbtcpay.core.errors import InvalidParams


def minor_places(currency: str) -> int:
    """ISO 4217 minor-unit digits (2 for a code the table does not know)."""
    return ISO_4217.get(currency, 2)


def to_minor(amount: Decimal, currency: str) -> int:
    scaled = amount.scaleb(minor_places(currency))
    if scaled != scaled.to_integral_value():
        raise InvalidParams(f"{amount} {currency} has more digits than the currency has")
    return int(scaled)


def from_minor(units: int, currency: str) -> Decimal:
    places = minor_places(currency)
    return (Decimal(units).scaleb(-places)).quantize(Decimal(1).scaleb(-places))


def price_minor(spec: Mapping[str, Any], currency: str) -> int | None:
    """The catalog price of ``spec`` in ``currency`` in minor units, None when not sold so."""
    prices = spec.get("prices") or {}
    listed = prices.get(currency)
    value = parse_money(listed) if isinstance(listed, str) else None
    return None if value is None else to_minor(value, currency)


def subscription_product(
    terms: Mapping[str, Terms], default: str | None, *, premium: bool, duration: int | None
) -> str:
    """The subscription product for (premium, duration): the default one when it fits."""
    fits = [
        t.product
        for t in terms.values()
        if t.kind == "subscription"
        and t.premium == premium
        and (duration is None or t.duration_months == duration)
    ]
    if default in fits:
        return str(default)
    if not fits:
        raise InvalidParams(
            "no subscription product for this subscriptionIsPremium / subscriptionDuration"
        )
    return fits[0]


def premium_counterpart(terms: Mapping[str, Terms], product: str) -> str | None:
    """The premium subscription product of the same duration as ``product``."""
    own = terms.get(product)
    if own is None:
        return None
    if own.premium:
        return product
    for t in terms.values():
        if t.kind == "subscription" and t.premium and t.duration_months == own.duration_months:
            return t.product
    return None


def media_product(
    terms: Mapping[str, Terms], kind: str, item: str | None, streamtype: str | None
) -> list[str]:
    """Products of ``kind`` (ppv | ownage) that unlock ``item``."""
    return [
        t.product
        for t in terms.values()
        if t.kind == kind and item is not None and t.covers(item, streamtype)
    ]

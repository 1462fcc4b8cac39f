"""What catalog products unlock: subscription, ownage and pay-per-view terms.

A product's ``items`` lists media ids, ``"*"`` (every item) and ``"group:NAME"``
(``commerce.item_groups.NAME``); ``streamtypes`` (optional) limits it to those stream types.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

MEDIA_TYPES = ("subscription", "ownage", "ppv")
GROUP_PREFIX = "group:"


@dataclass(frozen=True)
class Terms:
    """The access terms of one catalog product."""

    product: str
    kind: str  # subscription | ownage | ppv
    items: frozenset[str]
    all_items: bool
    streamtypes: frozenset[str] | None
    duration_months: int = 1
    premium: bool = False
    ppv_hours: int = 0

    def covers(self, item: str, streamtype: str | None) -> bool:
        if (
            self.streamtypes is not None
            and streamtype is not None
            and streamtype not in self.streamtypes
        ):
            return False
        return self.all_items or item in self.items


def _int(spec: Mapping[str, Any], key: str, default: int) -> int | None:
    value = spec.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        return None
    return value


def product_problems(
    products: Mapping[str, Mapping[str, Any]], groups: Mapping[str, Any]
) -> list[str]:
    """One line per invalid media field (config validation)."""
    out: list[str] = []
    for name, spec in products.items():
        kind, where = spec.get("type"), f"products.{name}"
        if kind not in MEDIA_TYPES:
            continue
        if kind == "subscription" and _int(spec, "duration_months", 1) is None:
            out.append(f"{where}.duration_months: expected a positive integer")
        if kind == "ppv" and _int(spec, "ppv_hours", 0) is None:
            out.append(f"{where}.ppv_hours: expected a positive integer of hours")
        if not isinstance(spec.get("premium", False), bool):
            out.append(f"{where}.premium: expected true or false")
        items = spec.get("items", [])
        if not isinstance(items, list) or not all(isinstance(i, (str, int)) for i in items):
            out.append(f'{where}.items: expected a list of item ids, "*" or "group:NAME"')
            continue
        for item in items:
            text = str(item)
            if text.startswith(GROUP_PREFIX) and text[len(GROUP_PREFIX) :] not in groups:
                out.append(f"{where}.items: unknown item group {text[len(GROUP_PREFIX) :]!r}")
        types = spec.get("streamtypes")
        if types is not None and (
            not isinstance(types, list) or not all(isinstance(t, str) for t in types)
        ):
            out.append(f"{where}.streamtypes: expected a list of stream type names")
    return out


def media_terms(
    products: Mapping[str, Mapping[str, Any]], groups: Mapping[str, frozenset[str]]
) -> dict[str, Terms]:
    """Terms of every subscription / ownage / ppv product (assumes validated config)."""
    out: dict[str, Terms] = {}
    for name, spec in products.items():
        kind = spec.get("type")
        if kind not in MEDIA_TYPES:
            continue
        items: set[str] = set()
        for item in spec.get("items", []):
            text = str(item)
            if text.startswith(GROUP_PREFIX):
                items |= groups.get(text[len(GROUP_PREFIX) :], frozenset())
            else:
                items.add(text)
        types = spec.get("streamtypes")
        out[name] = Terms(
            product=name,
            kind=str(kind),
            items=frozenset(items - {"*"}),
            all_items="*" in items,
            streamtypes=None if types is None else frozenset(types),
            duration_months=int(spec.get("duration_months", 1)),
            premium=bool(spec.get("premium", False)),
            ppv_hours=int(spec.get("ppv_hours", 0)),
        )
    return out

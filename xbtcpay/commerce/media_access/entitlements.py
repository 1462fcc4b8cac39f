"""Entitlement rules: can a customer access an item (stream type) at a given time?

Access comes from a subscription that is active or canceled-but-still-valid, an ownage
purchase (forever) or a pay-per-view purchase (``ppv_hours`` from the purchase). Grants that
ended stay listed with their end, so an app can say "your rental ended on ...".
Pure functions: the caller loads the customer's grants and passes the clock.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from xbtcpay.commerce.media_access.products import Terms
from xbtcpay.commerce.media_access.subscription import Subscription


@dataclass(frozen=True)
class Grant:
    """One source of access: a subscription, a purchase or a voucher."""

    kind: str  # subscription | ownage | ppv
    product: str
    source: str  # "subscription:<id>", "transaction:<id>", "voucher:<id>"
    starts_at: int
    ends_at: int | None  # None: forever
    premium: bool = False

    def valid_at(self, now: int) -> bool:
        return self.starts_at <= now and (self.ends_at is None or now < self.ends_at)


@dataclass(frozen=True)
class Decision:
    access: bool
    reason: str  # subscription | ownage | ppv | expired | no_entitlement
    valid_until: int | None
    via: str | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "access": self.access,
            "reason": self.reason,
            "valid_until": self.valid_until,
            "via": self.via,
        }


def subscription_grant(sub: Subscription) -> Grant | None:
    """The grant of a subscription that ever gave access (pending/failed/deleted give none)."""
    if sub.anchor_at is None or sub.valid_until is None:
        return None
    return Grant(
        "subscription",
        sub.product,
        f"subscription:{sub.id}",
        min(sub.created_at, sub.anchor_at),
        sub.valid_until,
        sub.premium,
    )


def _rank(grant: Grant) -> tuple[int, int]:
    # forever beats any end; later ends beat earlier ones
    return (1, 0) if grant.ends_at is None else (0, grant.ends_at)


def decide(
    grants: Iterable[Grant], terms: Mapping[str, Terms], item: str, streamtype: str | None, now: int
) -> Decision:
    """The best grant covering (item, streamtype) at ``now``, or why there is none."""
    covering = [
        g for g in grants if g.product in terms and terms[g.product].covers(item, streamtype)
    ]
    valid = [g for g in covering if g.valid_at(now)]
    if valid:
        best = max(valid, key=_rank)
        return Decision(True, best.kind, best.ends_at, best.source)
    ended = [g for g in covering if g.ends_at is not None and g.ends_at <= now]
    if ended:
        last = max(ended, key=_rank)
        return Decision(False, "expired", last.ends_at, last.source)
    return Decision(False, "no_entitlement", None, None)


def listing(grants: Iterable[Grant], now: int) -> list[dict[str, Any]]:
    """Every grant, valid or ended, newest end first (forever on top)."""
    rows = sorted(grants, key=_rank, reverse=True)
    return [
        {
            "kind": g.kind,
            "product": g.product,
            "via": g.source,
            "starts_at": g.starts_at,
            "ends_at": g.ends_at,
            "active": g.valid_at(now),
            "premium": g.premium,
        }
        for g in rows
    ]

"""Loading a customer's grants for the entitlement rules, and registering item "buys"."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from xbtcpay.commerce.entitlements import Decision, Grant, decide, listing
from xbtcpay.commerce.products import Terms
from xbtcpay.storage.protocol import Engine

# One read for both sources: subscriptions that ever started and stored entitlements.
_GRANTS = (
    "SELECT 'subscription' AS kind, product, 'subscription:' || id AS source,"
    " CASE WHEN created_at < anchor_at THEN created_at ELSE anchor_at END AS starts_at, valid_until AS ends_at, premium"
    " FROM subscriptions WHERE customer = ? AND anchor_at IS NOT NULL"
    " AND state IN ('active', 'canceled', 'expired', 'terminated')"
    " UNION ALL"
    " SELECT kind, product, source, starts_at, ends_at, 0 FROM entitlements WHERE customer = ?"
)


class Access:
    """payment.itemstate's reads and writes."""

    def __init__(self, db: Engine, terms: Mapping[str, Terms],
                 clock: Callable[[], float] = time.time) -> None:
        self.db = db
        self.terms = terms
        self.clock = clock

    async def grants(self, customer: str) -> list[Grant]:
        rows = await self.db.fetchall(_GRANTS, (customer, customer))
        return [Grant(r["kind"], r["product"], r["source"], r["starts_at"], r["ends_at"],
                      bool(r["premium"])) for r in rows]

    async def item_state(self, customer: str, item: str, streamtype: str | None) -> Decision:
        return decide(await self.grants(customer), self.terms, item, streamtype,
                      int(self.clock()))

    async def listing(self, customer: str) -> list[dict[str, Any]]:
        return listing(await self.grants(customer), int(self.clock()))

    async def register_buy(self, customer: str, item: str, streamtype: str | None,
                           via: str) -> bool:
        """Record the "buy" of an item watched through a subscription once; True if new."""
        now = int(self.clock())

        async def op(conn: Any) -> bool:
            added = await conn.execute(
                "INSERT INTO item_buys (customer, item, streamtype, via, at) VALUES"
                " (?,?,?,?,?) ON CONFLICT (customer, item, streamtype, via) DO NOTHING",
                (customer, item, streamtype or "", via, now))
            return bool(added == 1)

        result: bool = await self.db.transact(op)
        return result

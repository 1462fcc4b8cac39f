"""Loading a customer's grants for the entitlement rules, and registering item "buys"."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from typing import Any

from xbtcpay.commerce.media_access.entitlements import Decision, Grant, decide, listing
from xbtcpay.commerce.media_access.products import Terms
from xbtcpay.core.persistence import Engine, UnitOfWork

# One read for both sources: subscriptions that ever started and stored entitlements.
_GRANTS = (
    "SELECT 'subscription' AS kind, product, 'subscription:' || id AS source,"
    " CASE WHEN created_at < anchor_at THEN created_at ELSE anchor_at END AS starts_at, valid_until AS ends_at, premium"
    " FROM subscriptions WHERE customer = ? AND anchor_at IS NOT NULL"
    " AND state IN ('active', 'canceled', 'expired', 'terminated')"
    " UNION ALL"
    " SELECT kind, product, source, starts_at, ends_at, 0 FROM entitlements WHERE customer = ?"
)
_GRANT_COLUMNS = ("kind", "product", "source", "starts_at", "ends_at", "premium")


class Access:
    """payment.itemstate's reads and writes.

    A customer's grants are cached for ``cache_ttl`` seconds (itemstate is asked on every
    play). Every change this daemon makes forgets the customer at once; the TTL bounds how
    long a change made by another replica (PostgreSQL) can go unseen. Validity is computed
    at every call from the cached grants and the clock, so an end is never served late.
    """

    def __init__(
        self,
        db: Engine,
        terms: Mapping[str, Terms],
        clock: Callable[[], float] = time.time,
        *,
        cache_ttl: float = 2.0,
        max_entries: int = 100_000,
    ) -> None:
        self.db = db
        # the grants as one row of JSON, so the read is a point read (on SQLite: on the event
        # loop's own connection, no thread hop); the engine spells the JSON aggregate
        self._grants_sql = db.json_rows(_GRANT_COLUMNS, _GRANTS)
        self.terms = terms
        self.clock = clock
        self.cache_ttl = cache_ttl
        self.max_entries = max_entries
        self._cache: dict[str, tuple[float, list[Grant]]] = {}
        self._epoch = 0

    def forget(self, customer: str) -> None:
        """The customer's grants changed (called after the commit)."""
        self._epoch += 1
        self._cache.pop(customer, None)

    async def grants(self, customer: str) -> list[Grant]:
        hit = self._cache.get(customer)
        if hit is not None and hit[0] > time.monotonic():
            return hit[1]
        epoch = self._epoch
        row = await self.db.point(self._grants_sql, (customer, customer))
        rows = json.loads(row[0]) if row is not None and row[0] else []
        grants = [
            Grant(
                str(kind),
                str(product),
                str(source),
                int(starts),
                None if ends is None else int(ends),
                bool(premium),
            )
            for kind, product, source, starts, ends, premium in rows
        ]
        if self.cache_ttl > 0 and epoch == self._epoch:  # no change raced with the read
            self._cache.pop(customer, None)
            self._cache[customer] = (time.monotonic() + self.cache_ttl, grants)
            while len(self._cache) > self.max_entries:
                del self._cache[next(iter(self._cache))]
        return grants

    async def item_state(self, customer: str, item: str, streamtype: str | None) -> Decision:
        return decide(await self.grants(customer), self.terms, item, streamtype, int(self.clock()))

    async def listing(self, customer: str) -> list[dict[str, Any]]:
        return listing(await self.grants(customer), int(self.clock()))

    async def register_buy(
        self, customer: str, item: str, streamtype: str | None, via: str
    ) -> bool:
        """Record the "buy" of an item watched through a subscription once; True if new."""
        now = int(self.clock())

        async def op(conn: UnitOfWork) -> bool:
            added = await conn.execute(
                "INSERT INTO item_buys (customer, item, streamtype, via, at) VALUES"
                " (?,?,?,?,?) ON CONFLICT (customer, item, streamtype, via) DO NOTHING",
                (customer, item, streamtype or "", via, now),
            )
            return bool(added == 1)

        result: bool = await self.db.transact(op)
        return result

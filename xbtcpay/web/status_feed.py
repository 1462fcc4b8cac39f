"""Keep status.json caches fresh across replicas: follow committed payment changes.

A replica's own transitions replace its cached bodies at once (a transition listener on the
payment feed); a change committed by another replica reaches this one through this loop:
every ``FEED_INTERVAL`` seconds it reads the ids and versions of payments updated in the
last ``FEED_WINDOW`` seconds (an index on ``updated_at``) and drops the cached bodies whose
version moved. A body is therefore never stale for longer than about one interval plus a
query; nothing is sent inside the payment transactions (no NOTIFY), and no message can be
lost. Followers also take the chain head from the leader's scan cursor. Only run when
several processes can share the database (PostgreSQL).
"""

from __future__ import annotations

import asyncio
import time

from xbtcpay.cluster.leadership import Leadership
from xbtcpay.core.chain_head import ChainHead
from xbtcpay.core.feed import PaymentFeed
from xbtcpay.storage.chain_store import ChainStore
from xbtcpay.storage.payments import PaymentStore
from xbtcpay.web.status_cache import StatusCache

FEED_INTERVAL = 0.25
FEED_WINDOW = 5  # seconds of clock skew and commit delay tolerated between replicas


class StatusFeed:
    """The change feed of one replica: ``await prime()`` before serving, then ``run()``."""

    def __init__(
        self,
        payments: PaymentStore,
        chain: ChainStore,
        cache: StatusCache,
        feed: PaymentFeed,
        head: ChainHead,
        leadership: Leadership,
    ) -> None:
        self.payments = payments
        self.chain = chain
        self.cache = cache
        self.feed = feed
        self.head = head
        self.leadership = leadership
        self._seen: dict[str, tuple[int, int]] = {}

    async def prime(self) -> None:
        """Learn the versions committed so far: bodies read after this are followed."""
        await self._poll(invalidate=False)

    async def run(self) -> None:
        """Forever: invalidate bodies changed elsewhere; on followers, track the head."""
        while True:
            await asyncio.sleep(FEED_INTERVAL)
            await self._poll(invalidate=True)

    async def _poll(self, *, invalidate: bool) -> None:
        seen = self._seen
        since = int(time.time()) - FEED_WINDOW
        changed = []
        for pid, version, updated_at in await self.payments.versions_since(since):
            known = seen.get(pid)
            if invalidate and (known is None or known[0] != version):
                self.cache.invalidate(pid)
                changed.append(pid)
            seen[pid] = (version, updated_at)
        if changed and self.feed.payment_listeners:  # live pages here follow changes there
            for pid in changed:
                payment = await self.payments.get(pid)
                if payment is not None:
                    self.feed.publish_payment(payment, "replicated")
        for pid in [p for p, (_, at) in seen.items() if at < since]:
            del seen[pid]
        if not self.leadership.is_leader:
            cursor = await self.chain.cursor()
            if cursor is not None and cursor != self.head.number:
                self.head.set(cursor)

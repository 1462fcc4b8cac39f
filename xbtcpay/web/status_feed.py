"""Keep status.json caches fresh across replicas: follow committed payment changes.

A replica's own transitions replace its cached bodies at once (a transition listener on the
payment feed); a change committed by another replica reaches this one through this loop:
every ``FEED_INTERVAL`` seconds it reads the ids and versions of the payments updated since
its cursor (an index on ``updated_at``) and drops the cached bodies whose version moved.
Nothing is sent inside the payment transactions (no NOTIFY), so no message can be lost.

Why no committed change is missed. The cursor is not "the last few seconds before now" but
the moment the last *successful* read began, minus ``FEED_WINDOW``; it only moves after a
read succeeded. Commit order is not ``updated_at`` order (a transaction stamped earlier can
commit later), so the overlap is what covers it: a change the last successful read could not
see commits after that read began, and was stamped at most ``FEED_WINDOW`` (commit delay plus
clock skew between replicas) before its commit, so its ``updated_at`` is at or after the
cursor and the next successful read returns it, however long the gap in between (a paused
process, a database outage). Versions already seen in the overlap are not dropped twice.
While the feed cannot read, this replica cannot know what changed elsewhere: a failed read
suspends the cache (every body dropped, nothing cached) until a read has caught up.
Followers also take the chain head from the leader's scan cursor. Only run when several
processes can share the database (PostgreSQL).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from xbtcpay.cluster.leadership import Leadership
from xbtcpay.core.chain_head import ChainHead
from xbtcpay.core.feed import PaymentFeed
from xbtcpay.core.tasks import progressed
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
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.payments = payments
        self.chain = chain
        self.cache = cache
        self.feed = feed
        self.head = head
        self.leadership = leadership
        self.clock = clock
        self._seen: dict[str, tuple[int, int]] = {}
        self._cursor: int | None = None  # updated_at the next read starts from

    async def prime(self) -> None:
        """Learn the versions committed so far: bodies read after this are followed."""
        await self._poll(invalidate=False)

    async def run(self) -> None:
        """Forever: invalidate bodies changed elsewhere; on followers, track the head."""
        while True:
            await asyncio.sleep(FEED_INTERVAL)
            try:
                await self._poll(invalidate=True)
            except Exception:
                self.cache.suspend()  # changes elsewhere may go unseen until a read succeeds
                raise
            progressed()

    async def _poll(self, *, invalidate: bool) -> None:
        seen = self._seen
        started = int(self.clock())
        since = started - FEED_WINDOW if self._cursor is None else self._cursor
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
        self._cursor = since = max(since, started - FEED_WINDOW)
        for pid in [p for p, (_, at) in seen.items() if at < since]:
            del seen[pid]
        self.cache.resume()  # caught up: every change before ``started`` has been applied
        if not self.leadership.is_leader:  # every chain's head, from its scan cursor
            for key, cursor in (await self.chain.cursors()).items():
                head = self.head.chains.get(key)
                if head is not None and cursor != head.number:
                    head.set(cursor)

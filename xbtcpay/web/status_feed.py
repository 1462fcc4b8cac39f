"""Keep status.json caches fresh across replicas: follow committed payment changes.

A replica's own transitions replace its cached bodies at once (``Runtime`` wiring); a
change committed by another replica reaches this one through this loop: every
``FEED_INTERVAL`` seconds it reads the ids and versions of payments updated in the last
``FEED_WINDOW`` seconds (an index on ``updated_at``) and drops the cached bodies whose
version moved. A body is therefore never stale for longer than about one interval plus a
query; nothing is sent inside the payment transactions (no NOTIFY), and no message can be
lost. Followers also take the chain head from the leader's scan cursor. Only run when
several processes can share the database (PostgreSQL).
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

from xbtcpay.storage.payments import recent_versions

if TYPE_CHECKING:
    from xbtcpay.app.runtime import Runtime

FEED_INTERVAL = 0.25
FEED_WINDOW = 5  # seconds of clock skew and commit delay tolerated between replicas


class StatusFeed:
    """The change feed of one replica: ``await prime()`` before serving, then ``run()``."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
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
        rt, seen = self.rt, self._seen
        since = int(time.time()) - FEED_WINDOW
        rows = await recent_versions(rt.db, since)
        changed = []
        for row in rows:
            pid, version = row["id"], int(row["version"])
            known = seen.get(pid)
            if invalidate and (known is None or known[0] != version):
                rt.status_cache.invalidate(pid)
                changed.append(pid)
            seen[pid] = (version, int(row["updated_at"]))
        if changed and rt.feed.payment_listeners:  # live pages here follow changes made there
            for pid in changed:
                payment = await rt.payments.get(pid)
                if payment is not None:
                    rt.feed.publish_payment(payment, "replicated")
        for pid in [p for p, (_, at) in seen.items() if at < since]:
            del seen[pid]
        if not rt.leadership.is_leader:
            cursor = await rt.db.fetchone("SELECT block FROM chain_cursor WHERE id = 1")
            if cursor is not None and cursor["block"] != rt.chain_head:
                rt.set_head(int(cursor["block"]))

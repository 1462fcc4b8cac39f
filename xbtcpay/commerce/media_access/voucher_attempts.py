"""The voucher attempt limit, kept in the database so every replica counts the same attempts.

An attempt is taken (reserved) before the code is looked up, in its own committed unit of
work, so at most ``limit`` wrong codes per key are ever evaluated in a window, however many
calls arrive at once on however many replicas: each key's row is locked while an attempt is
taken (an upsert; on SQLite the one writer serialises anyway), and the count includes attempts
still in flight. A right code gives its attempt back; a wrong one keeps it as the failure.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence

from xbtcpay.commerce.media_access.vouchers import attempts_in_window
from xbtcpay.core.persistence import Engine, UnitOfWork


class AttemptLimiter:
    """At most ``limit`` attempts per key within ``window`` seconds, shared by replicas."""

    def __init__(
        self, db: Engine, limit: int, window: float, clock: Callable[[], float] = time.time
    ) -> None:
        self.db = db
        self.limit = limit
        self.window = window
        self.clock = clock

    async def take(self, keys: Sequence[str]) -> float | None:
        """Reserve one attempt on every key; the attempt's time, or None when a key is full."""
        now = self.clock()
        ordered = sorted(set(keys))  # one lock order on every replica: no deadlock

        async def op(conn: UnitOfWork) -> float | None:
            windows: dict[str, list[float]] = {}
            for key in ordered:
                windows[key] = await self._locked(conn, key, now)
            if any(len(times) >= self.limit for times in windows.values()):
                return None
            for key, times in windows.items():
                await self._store(conn, key, [*times, now], now)
            return now

        taken: float | None = await self.db.transact(op)
        return taken

    async def give_back(self, keys: Sequence[str], at: float) -> None:
        """Return the attempt taken at ``at``: the code was right, it was no failure."""
        now = self.clock()

        async def op(conn: UnitOfWork) -> None:
            for key in sorted(set(keys)):
                times = await self._locked(conn, key, now)
                if at in times:
                    times.remove(at)
                await self._store(conn, key, times, now)

        await self.db.transact(op)

    async def forget_idle(self) -> int:
        """Drop keys whose attempts all left the window (the periodic job)."""
        cutoff = int(self.clock() - self.window) - 1

        async def op(conn: UnitOfWork) -> int:
            return int(
                await conn.execute("DELETE FROM voucher_attempts WHERE last_at < ?", (cutoff,))
            )

        dropped: int = await self.db.transact(op)
        return dropped

    async def _locked(self, conn: UnitOfWork, key: str, now: float) -> list[float]:
        # an upsert locks the key's row until the commit, whether it inserts or finds it,
        # and never misses a row deleted meanwhile (PostgreSQL retries the insert)
        row = await conn.fetchone(
            "INSERT INTO voucher_attempts (key, times, last_at) VALUES (?, '[]', ?)"
            " ON CONFLICT (key) DO UPDATE SET last_at = voucher_attempts.last_at"
            " RETURNING times",
            (key, int(now)),
        )
        assert row is not None  # RETURNING answers the inserted or locked row
        return attempts_in_window(json.loads(row["times"]), now, self.window)

    async def _store(self, conn: UnitOfWork, key: str, times: list[float], now: float) -> None:
        if not times:
            await conn.execute("DELETE FROM voucher_attempts WHERE key = ?", (key,))
            return
        await conn.execute(
            "UPDATE voucher_attempts SET times = ?, last_at = ? WHERE key = ?",
            (json.dumps(times), int(max(times)), key),
        )

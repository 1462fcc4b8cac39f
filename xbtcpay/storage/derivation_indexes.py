"""Derivation indexes (the ``counters`` row ``derivation_index``): each deposit address is the
xpub's child at an index handed out once, ever.

On SQLite the index is taken inside the payment's own unit of work: one process writes, its
units commit in the order they took indexes, and the chain watcher loads new addresses by
index (``chain_store.load_addresses``).

On PostgreSQL replicas share the counter. Taking it inside each payment's unit held the
counter's row lock until the writer's batch committed, so every replica's writer queued
behind the others' commits. Instead each replica reserves a *block* of indexes in a short
transaction of its own, committed before any index of the block is handed out
(``IndexBlocks``), and hands them out from memory. No index is handed out twice: the
counter only moves forward, past every block reserved, durably and before use; a replica
that restarts (after ``kill -9`` too) reserves a new block. An index not used (a block cut
short by a stop, a payment refused by a unique key) is a gap, never reused. Indexes then
commit out of order, so on PostgreSQL the watcher loads new addresses by a commit-order
watermark instead of by index.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import structlog

from xbtcpay.core.persistence import UnitOfWork, Work

log = structlog.get_logger("xbtcpay.storage")
# ``first`` is where the wallet's indexes start (config); the counter never goes below it.
_BUMP = (
    "UPDATE counters SET value = CASE WHEN value > ? THEN value ELSE ? END + ?"
    " WHERE name = 'derivation_index' RETURNING value - ?"
)
_CREATE = (
    "INSERT INTO counters (name, value) VALUES ('derivation_index', ?)"
    " ON CONFLICT (name) DO NOTHING"
)


async def reserve(uow: UnitOfWork, first: int, size: int) -> int:
    """Move the counter past ``size`` never-used indexes (from ``first`` on at least) and
    return the first of them; the caller's unit holds the counter's row until it commits."""
    params = (first, first, size, size)
    row = await uow.fetchone(_BUMP, params)
    if row is None:  # the very first allocation creates the counter
        await uow.execute(_CREATE, (first,))
        row = await uow.fetchone(_BUMP, params)
    assert row is not None
    return int(row[0])


async def next_index(uow: UnitOfWork, first: int) -> int:
    """One never-used index, taken in the caller's unit (SQLite: under its write lock)."""
    return await reserve(uow, first, 1)


async def counter(uow: UnitOfWork) -> int | None:
    """The first index never handed out (None before the first one)."""
    row = await uow.fetchone("SELECT value FROM counters WHERE name = 'derivation_index'")
    return None if row is None else int(row[0])


class IndexBlocks:
    """Derivation indexes handed out from blocks this replica reserved (PostgreSQL).

    ``apart`` runs a unit in a transaction of its own, outside the writer's batches, so the
    counter's row is locked for one statement and the block is durable before use. The
    block size adapts: a block used up within ``FAST`` seconds makes the next one twice as
    large (up to ``MAX``), one that lasted longer than ``SLOW`` seconds starts again at
    ``MIN``; callers waiting for a block are counted in, so a burst reserves once. A shop
    taking a payment a minute thus leaves gaps of at most one index per restart, and one
    taking a thousand a second reserves a few blocks a second."""

    MIN, MAX = 1, 256
    FAST, SLOW = 1.0, 10.0

    def __init__(
        self,
        apart: Callable[[Work[int]], Awaitable[int]],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._apart = apart
        self._clock = clock
        self._next = self._end = 0
        self._size = self.MIN
        self._reserved_at: float | None = None
        self._waiting = 0
        self._lock = asyncio.Lock()
        self.blocks = 0  # reserved so far (for tests and metrics)

    async def take(self, first: int) -> int:
        """A never-used index, ``first`` or above."""
        while True:
            if first <= self._next < self._end:
                index = self._next
                self._next += 1
                return index
            self._waiting += 1
            try:
                async with self._lock:
                    if not first <= self._next < self._end:
                        await self._refill(first)
            finally:
                self._waiting -= 1

    async def _refill(self, first: int) -> None:
        now = self._clock()
        if self._reserved_at is not None:
            lasted = now - self._reserved_at
            if lasted < self.FAST:
                self._size = min(self.MAX, self._size * 2)
            elif lasted > self.SLOW:
                self._size = self.MIN
        size = self._size = min(self.MAX, max(self._size, self._waiting))

        async def work(uow: UnitOfWork) -> int:
            return await reserve(uow, first, size)

        start = await self._apart(work)
        self._next, self._end = start, start + size
        self._reserved_at = now
        self.blocks += 1
        log.debug("derivation.block_reserved", start=start, size=size)

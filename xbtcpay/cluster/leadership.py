"""Replicas: one leader at a time, by a lease row with a fencing term.

Every replica serves both ports; exactly one, the holder of the ``leader`` lease, runs the
chain watcher, the expiry loop and the plugins' reconciliation jobs. The lease is a row
(``cluster_lease``) with a holder, a term and an expiry (``cluster.lease_ttl``):

- a replica takes it when there is none or it has expired, raising the term by one;
- the holder renews it every third of the TTL, only while it still holds that term;
- every write the leader makes to the chain tables runs ``fence`` first, in the same unit
  of work: a conditional update of the lease row that matches only the holder's own term.
  A paused old leader that wakes after another took over finds no row, raises ``Fenced``,
  and its unit of work rolls back; on PostgreSQL that update also row-locks the lease, so
  a take-over waits for an in-flight fenced write to commit, never interleaves with it;
- a leader that cannot renew for a whole TTL (database gone) stops its leader tasks
  before anyone else may take over.

A clean shutdown releases the lease, so the next replica takes over at once; after
``kill -9`` another takes over within TTL + one renewal period. On SQLite (one process per
file) the daemon takes the lease at start-up whatever the row says and never renews it (no
other replica can want it); a second process started on the same file takes it over and
fences the first.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import structlog

from xbtcpay.core.errors import StorageError, XbtcpayError
from xbtcpay.core.persistence import Engine, UnitOfWork
from xbtcpay.core.tasks import supervise

log = structlog.get_logger("xbtcpay.cluster")
LEASE = "leader"
LeaderJob = tuple[str, Callable[[], Awaitable[None]]]


class Fenced(XbtcpayError):
    """A write under a term that is no longer the leader's: refused, rolled back."""


def default_replica_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass(frozen=True)
class LeaseState:
    holder: str | None
    term: int
    expires_at: float


async def read_lease(engine: Engine) -> LeaseState:
    row = await engine.fetchone(
        "SELECT holder, term, expires_at FROM cluster_lease WHERE name = ?", (LEASE,)
    )
    if row is None:
        return LeaseState(None, 0, 0.0)
    return LeaseState(row["holder"], int(row["term"]), float(row["expires_at"]))


class Leadership:
    """The leader lease as seen by one replica; runs the leader jobs while it holds it."""

    def __init__(
        self,
        engine: Engine,
        replica_id: str,
        ttl: float,
        *,
        take_over: bool = False,
        renew: bool = True,
        clock: Callable[[], float] = time.time,
        on_change: Callable[[Leadership], None] = lambda _: None,
    ) -> None:
        self.engine = engine
        self.replica_id = replica_id
        self.ttl = ttl
        self.take_over = take_over
        self.renew = renew
        self.clock = clock
        self.on_change = on_change
        self.term: int | None = None
        self.leader_id: str | None = None
        self.leader_term = 0
        self._renewed_at = 0.0
        self._jobs: list[asyncio.Task[None]] = []
        self._leading = asyncio.Event()

    @property
    def is_leader(self) -> bool:
        return self.term is not None

    async def step(self) -> bool:
        """Take or renew the lease once; True while this replica is the leader."""
        now = self.clock()
        term = self.term

        async def work(uow: UnitOfWork) -> int | None:
            row = await uow.fetchone(
                "SELECT holder, term, expires_at FROM cluster_lease WHERE name = ?", (LEASE,)
            )
            until = now + self.ttl
            if term is not None:
                renewed = await uow.execute(
                    "UPDATE cluster_lease SET expires_at = ? WHERE name = ? AND holder = ?"
                    " AND term = ?",
                    (until, LEASE, self.replica_id, term),
                )
                return term if renewed == 1 else None
            if row is None:
                added = await uow.execute(
                    "INSERT INTO cluster_lease (name, holder, term, expires_at)"
                    " VALUES (?, ?, 1, ?) ON CONFLICT (name) DO NOTHING",
                    (LEASE, self.replica_id, until),
                )
                return 1 if added == 1 else None
            if float(row["expires_at"]) >= now and not self.take_over:
                return None
            taken = await uow.execute(
                "UPDATE cluster_lease SET holder = ?, term = term + 1, expires_at = ?"
                " WHERE name = ? AND term = ?",
                (self.replica_id, until, LEASE, row["term"]),
            )
            return int(row["term"]) + 1 if taken == 1 else None

        won = await self.engine.transact(work)
        self.take_over = False
        if won is not None:
            self._renewed_at = now
            if term is None:
                self._elected(won)
        elif term is not None:
            self._deposed("lease lost")
        state = await read_lease(self.engine)
        live = state.expires_at >= self.clock()
        self.leader_id, self.leader_term = (state.holder if live else None), state.term
        return self.is_leader

    def _elected(self, term: int) -> None:
        self.term = term
        log.warning("cluster.elected", replica=self.replica_id, term=term)
        self._leading.set()
        self.on_change(self)

    def _deposed(self, why: str) -> None:
        if self.term is None:
            return
        log.warning("cluster.deposed", replica=self.replica_id, term=self.term, reason=why)
        self.term = None
        self._leading.clear()
        for task in self._jobs:
            task.cancel()
        self.on_change(self)

    async def fence(self, uow: UnitOfWork) -> int:
        """First statement of every leader write: refuse it unless our term is current."""
        term = self.term
        if term is not None:
            held = await uow.execute(
                "UPDATE cluster_lease SET holder = holder WHERE name = ? AND holder = ?"
                " AND term = ?",
                (LEASE, self.replica_id, term),
            )
            if held == 1:
                await uow.execute(
                    "INSERT INTO chain_terms (term, holder, first_at, last_at, writes)"
                    " VALUES (?, ?, ?, ?, 1) ON CONFLICT (term) DO UPDATE SET"
                    " last_at = excluded.last_at, writes = chain_terms.writes + 1",
                    (term, self.replica_id, self.clock(), self.clock()),
                )
                return term
        asyncio.get_running_loop().call_soon(self._deposed, "fenced")
        raise Fenced(f"term {term} is no longer the leader's")

    async def run(self, jobs: Sequence[LeaderJob]) -> None:
        """Hold or wait for the lease forever; run ``jobs`` while leading."""
        try:
            while True:
                try:
                    leading = (
                        self.is_leader if (self.is_leader and not self.renew) else await self.step()
                    )
                except StorageError as exc:
                    leading = self.is_leader
                    if leading and self.clock() - self._renewed_at > self.ttl * 0.9:
                        self._deposed(f"cannot renew: {exc.detail}")
                        leading = False
                if leading and not any(not t.done() for t in self._jobs):
                    self._jobs = [
                        asyncio.create_task(supervise(name, job), name=name) for name, job in jobs
                    ]
                await asyncio.sleep(self.ttl / 3)
        finally:
            for task in self._jobs:
                task.cancel()
            await asyncio.gather(*self._jobs, return_exceptions=True)

    async def release(self) -> None:
        """Give the lease up (clean shutdown): the next replica takes over at once."""
        term, self.term = self.term, None
        if term is None:
            return

        async def work(uow: UnitOfWork) -> None:
            await uow.execute(
                "UPDATE cluster_lease SET expires_at = 0 WHERE name = ?"
                " AND holder = ? AND term = ?",
                (LEASE, self.replica_id, term),
            )

        with contextlib.suppress(StorageError):  # unreleased, the lease simply expires
            await self.engine.transact(work)
        log.info("cluster.released", replica=self.replica_id, term=term)

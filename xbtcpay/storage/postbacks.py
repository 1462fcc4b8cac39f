"""The postback outbox and its delivery attempts, on either engine.

Replicas share the outbox: ``due`` claims the postbacks it returns for ``claim_for``
seconds (``claimed_by``/``claimed_until``), so each is attempted by one replica at a time;
a replica killed mid-delivery leaves its claims to expire and another replica delivers the
same event id. Claims take one lock per database (on PostgreSQL an advisory lock, plus
``FOR UPDATE SKIP LOCKED`` on the rows), so the per-host limit counts every replica's
deliveries in flight.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from xbtcpay.core.models import Postback
from xbtcpay.core.persistence import Engine, PostbackRow, UnitOfWork
from xbtcpay.storage.sql import marks

_FIELDS = (
    "id, event_id, payment_id, event, url, body, status, attempts, next_attempt_at,"
    " created_at, delivered_at, last_status, last_error"
)


_CLAIM_LOCK = 0x7862_7470  # "xbtp": one claimer at a time per database
HOLD_BACK = 0.2  # seconds before a host at its limit is looked at again


def _row(row: Any) -> Postback:
    return Postback(**{k: row[k] for k in _FIELDS.replace(" ", "").split(",")})


def host_of(url: str) -> str:
    """The key of the per-host delivery limit (the postback worker uses the same)."""
    return urlsplit(url).netloc


class PostbackStore:
    """All SQL about postbacks: the core's ``PostbackOutbox`` (the processor queues) and
    ``PostbackRepository`` (the delivery worker claims and records)."""

    def __init__(
        self, engine: Engine, *, owner: str = "local", host_limit: int = 8, claim_for: float = 60.0
    ) -> None:
        self.db = engine
        self.owner = owner
        self.host_limit = host_limit
        self.claim_for = claim_for
        self._held_back_until: float | None = None

    async def enqueue(self, uow: UnitOfWork, payment_id: str, postback: PostbackRow) -> None:
        """Queue a postback in the caller's unit of work (due at once)."""
        await uow.execute(
            "INSERT INTO postbacks (event_id, payment_id, event, url, body, status,"
            " next_attempt_at, created_at, host) VALUES (?, ?, ?, ?, ?, 'pending', ?, ?, ?)",
            (
                postback.event_id,
                payment_id,
                postback.event,
                postback.url,
                postback.body,
                postback.created_at,
                postback.created_at,
                host_of(postback.url),
            ),
        )

    async def due(self, now: float, limit: int, exclude: set[int]) -> list[Postback]:
        """Claim up to ``limit`` due postbacks for this replica (none claimed elsewhere,
        at most ``host_limit`` in flight per host over all replicas)."""
        skip = f" AND id NOT IN ({marks(list(exclude))})" if exclude else ""
        ready = (
            f"status = 'pending' AND next_attempt_at <= ?"
            f" AND (claimed_until IS NULL OR claimed_until < ?){skip}"
        )
        args = [now, now, *exclude]
        peek = await self.db.fetchone(f"SELECT 1 FROM postbacks WHERE {ready} LIMIT 1", args)
        if peek is None:
            return []  # nothing due: no write

        async def work(uow: UnitOfWork) -> list[Postback]:
            locking = ""
            if uow.dialect == "postgresql":
                await uow.execute("SELECT pg_advisory_xact_lock(?)", (_CLAIM_LOCK,))
                locking = " FOR UPDATE SKIP LOCKED"
            rows = await uow.fetchall(
                f"SELECT {_FIELDS}, host FROM postbacks WHERE {ready}"
                f" ORDER BY next_attempt_at LIMIT ?{locking}",
                [*args, limit],
            )
            if not rows:
                return []
            active = {
                r[0]: int(r[1])
                for r in await uow.fetchall(
                    "SELECT host, COUNT(*) FROM postbacks WHERE status = 'pending'"
                    " AND claimed_until >= ? GROUP BY host",
                    (now,),
                )
            }
            chosen = []
            for row in rows:
                if active.get(row["host"], 0) < self.host_limit:
                    active[row["host"]] = active.get(row["host"], 0) + 1
                    chosen.append(_row(row))
            self._held_back_until = now + HOLD_BACK if len(chosen) < len(rows) else None
            if chosen:
                ids = [pb.id for pb in chosen]
                await uow.execute(
                    f"UPDATE postbacks SET claimed_by = ?, claimed_until = ?"
                    f" WHERE id IN ({marks(ids)})",
                    (self.owner, now + self.claim_for, *ids),
                )
            return chosen

        return await self.db.transact(work)

    async def next_due_at(self) -> float | None:
        """When the next postback becomes claimable (a claim elsewhere postpones it)."""
        row = await self.db.fetchone(
            "SELECT MIN(CASE WHEN claimed_until > next_attempt_at THEN claimed_until"
            " ELSE next_attempt_at END) FROM postbacks WHERE status = 'pending'"
        )
        due = None if row is None or row[0] is None else float(row[0])
        if due is not None and self._held_back_until is not None:
            due = max(due, self._held_back_until)  # a host at its limit: look again soon
        return due

    async def record_attempt(
        self,
        postback_id: int,
        *,
        at: float,
        duration_ms: int,
        http_status: int | None,
        error: str | None,
        outcome: str,
        next_attempt_at: float | None,
    ) -> None:
        """Record one attempt; ``outcome`` is delivered, pending (retry) or failed (gave up)."""

        async def work(uow: UnitOfWork) -> None:
            await uow.execute(
                "INSERT INTO postback_attempts (postback_id, at, duration_ms, http_status, error)"
                " VALUES (?, ?, ?, ?, ?)",
                (postback_id, at, duration_ms, http_status, error),
            )
            mine = await uow.execute(
                "UPDATE postbacks SET attempts = attempts + 1, status = ?, last_status = ?,"
                " last_error = ?, next_attempt_at = COALESCE(?, next_attempt_at),"
                " claimed_by = NULL, claimed_until = NULL,"
                " delivered_at = CASE WHEN ? = 'delivered' THEN ? ELSE delivered_at END"
                " WHERE id = ? AND claimed_by = ?",
                (
                    outcome,
                    http_status,
                    error,
                    next_attempt_at,
                    outcome,
                    at,
                    postback_id,
                    self.owner,
                ),
            )
            if mine == 0:
                # re-queued (redeliver) or re-claimed elsewhere meanwhile: the attempt is
                # recorded, the newer schedule stands
                await uow.execute(
                    "UPDATE postbacks SET attempts = attempts + 1, last_status = ?,"
                    " last_error = ? WHERE id = ?",
                    (http_status, error, postback_id),
                )

        await self.db.transact(work)

    async def get(self, postback_id: int) -> Postback | None:
        row = await self.db.fetchone(
            f"SELECT {_FIELDS} FROM postbacks WHERE id = ?", (postback_id,)
        )
        return _row(row) if row else None

    async def search(
        self, *, status: str | None = None, payment_id: str | None = None, limit: int = 100
    ) -> list[Postback]:
        where: list[str] = []
        args: list[Any] = []
        if status:
            where.append("status = ?")
            args.append(status)
        if payment_id:
            where.append("payment_id = ?")
            args.append(payment_id)
        sql = f"SELECT {_FIELDS} FROM postbacks"
        if where:
            sql += " WHERE " + " AND ".join(where)
        rows = await self.db.fetchall(sql + " ORDER BY id DESC LIMIT ?", [*args, limit])
        return [_row(r) for r in rows]

    async def attempts(self, postback_id: int) -> list[dict[str, Any]]:
        rows = await self.db.fetchall(
            "SELECT at, duration_ms, http_status, error FROM postback_attempts"
            " WHERE postback_id = ? ORDER BY id",
            (postback_id,),
        )
        return [dict(r) for r in rows]

    async def redeliver(self, postback_id: int, now: float) -> bool:
        """Queue a postback again (delivered or failed ones too); False if unknown."""

        async def work(uow: UnitOfWork) -> bool:
            return (
                await uow.execute(
                    "UPDATE postbacks SET status = 'pending', next_attempt_at = ?, created_at = ?,"
                    " claimed_by = NULL, claimed_until = NULL WHERE id = ?",
                    (now, now, postback_id),
                )
                == 1
            )

        return await self.db.transact(work)

    async def stats(self) -> dict[str, int]:
        rows = await self.db.fetchall("SELECT status, COUNT(*) FROM postbacks GROUP BY status")
        return {r[0]: int(r[1]) for r in rows}

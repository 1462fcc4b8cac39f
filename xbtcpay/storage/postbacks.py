"""The postback outbox and its delivery attempts, on either engine."""

from __future__ import annotations

from typing import Any

from xbtcpay.models import Postback
from xbtcpay.storage.payments import PostbackRow
from xbtcpay.storage.protocol import Engine, UnitOfWork, marks

_FIELDS = ("id, event_id, payment_id, event, url, body, status, attempts, next_attempt_at,"
           " created_at, delivered_at, last_status, last_error")


def _row(row: Any) -> Postback:
    return Postback(**dict(row))


async def enqueue(uow: UnitOfWork, payment_id: str, postback: PostbackRow) -> None:
    """Queue a postback in the caller's unit of work (due at once)."""
    await uow.execute(
        "INSERT INTO postbacks (event_id, payment_id, event, url, body, status,"
        " next_attempt_at, created_at) VALUES (?, ?, ?, ?, ?, 'pending', ?, ?)",
        (postback.event_id, payment_id, postback.event, postback.url, postback.body,
         postback.created_at, postback.created_at))


class PostbackStore:
    """All SQL about postbacks."""

    def __init__(self, engine: Engine) -> None:
        self.db = engine

    async def due(self, now: float, limit: int, exclude: set[int]) -> list[Postback]:
        skip = f" AND id NOT IN ({marks(list(exclude))})" if exclude else ""
        rows = await self.db.fetchall(
            f"SELECT {_FIELDS} FROM postbacks WHERE status = 'pending' AND next_attempt_at <= ?"
            f"{skip} ORDER BY next_attempt_at LIMIT ?", [now, *exclude, limit])
        return [_row(r) for r in rows]

    async def next_due_at(self) -> float | None:
        row = await self.db.fetchone(
            "SELECT MIN(next_attempt_at) FROM postbacks WHERE status = 'pending'")
        return None if row is None or row[0] is None else float(row[0])

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
                " VALUES (?, ?, ?, ?, ?)", (postback_id, at, duration_ms, http_status, error))
            await uow.execute(
                "UPDATE postbacks SET attempts = attempts + 1, status = ?, last_status = ?,"
                " last_error = ?, next_attempt_at = COALESCE(?, next_attempt_at),"
                " delivered_at = CASE WHEN ? = 'delivered' THEN ? ELSE delivered_at END"
                " WHERE id = ?",
                (outcome, http_status, error, next_attempt_at, outcome, at, postback_id))

        await self.db.transact(work)

    async def get(self, postback_id: int) -> Postback | None:
        row = await self.db.fetchone(f"SELECT {_FIELDS} FROM postbacks WHERE id = ?",
                                     (postback_id,))
        return _row(row) if row else None

    async def search(self, *, status: str | None = None, payment_id: str | None = None,
                   limit: int = 100) -> list[Postback]:
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
            " WHERE postback_id = ? ORDER BY id", (postback_id,))
        return [dict(r) for r in rows]

    async def redeliver(self, postback_id: int, now: float) -> bool:
        """Queue a postback again (delivered or failed ones too); False if unknown."""

        async def work(uow: UnitOfWork) -> bool:
            return await uow.execute(
                "UPDATE postbacks SET status = 'pending', next_attempt_at = ?, created_at = ?"
                " WHERE id = ?", (now, now, postback_id)) == 1

        return await self.db.transact(work)

    async def stats(self) -> dict[str, int]:
        rows = await self.db.fetchall("SELECT status, COUNT(*) FROM postbacks GROUP BY status")
        return {r[0]: int(r[1]) for r in rows}

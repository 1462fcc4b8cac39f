"""Payments and their event log in SQLite."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from decimal import Decimal
from typing import Any

import aiosqlite

from xbtcpay.amounts import to_decimal
from xbtcpay.models import Payment
from xbtcpay.state import State
from xbtcpay.storage.database import Database

_BOOL = {"late", "overpaid", "reorged"}
_DECIMAL = {"amount", "amount_received", "amount_refunded"}
_COLUMNS = [f.name for f in fields(Payment)]


def row_to_payment(row: Any) -> Payment:
    values: dict[str, Any] = {}
    for name in _COLUMNS:
        value = row[name]
        if name in _DECIMAL:
            value = to_decimal(value)
        elif name in _BOOL:
            value = bool(value)
        elif name == "status":
            value = State(value)
        elif name == "extra":
            value = json.loads(value)
        elif name == "postback_events":
            value = tuple(json.loads(value)) if value else None
        values[name] = value
    return Payment(**values)


def to_column(name: str, value: Any) -> Any:
    if isinstance(value, Decimal):
        return format(value, "f")
    if name in _BOOL:
        return int(bool(value))
    if name == "extra":
        return json.dumps(dict(value), separators=(",", ":"), default=str)
    if name == "postback_events":
        return None if value is None else json.dumps(list(value))
    if isinstance(value, State):
        return value.value
    return value


@dataclass(frozen=True)
class EventRow:
    event_id: str
    event: str
    from_state: str | None
    to_state: str
    at: int
    source: str
    dedupe_key: str | None
    details: Mapping[str, Any]


@dataclass(frozen=True)
class PostbackRow:
    event_id: str
    event: str
    url: str
    body: str
    created_at: float


class DuplicateEvent(Exception):
    """The event's dedupe key was applied before."""


class PaymentStore:
    """All SQL about payments, events and claims."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def insert(
        self,
        payment: Payment,
        event: EventRow,
        derive_address: Callable[[int], str] | None = None,
        first_index: int = 0,
    ) -> Payment:
        """Insert ``payment`` with its creation event; allocate an address when asked."""

        async def op(conn: aiosqlite.Connection) -> Payment:
            p = payment
            if derive_address is not None:
                index = await _next_index(conn, first_index)
                p = _replace(p, derivation_index=index, address=derive_address(index).lower())
            cols = ", ".join(_COLUMNS)
            marks = ", ".join("?" for _ in _COLUMNS)
            await conn.execute(f"INSERT INTO payments ({cols}) VALUES ({marks})",
                               [to_column(c, getattr(p, c)) for c in _COLUMNS])
            await _insert_event(conn, p.id, event)
            return p

        return await self.db.write(op)

    async def get(self, payment_id: str) -> Payment | None:
        row = self.db.lookup("SELECT * FROM payments WHERE id = ?", (payment_id,))
        return row_to_payment(row) if row else None

    async def get_by_order_id(self, order_id: str) -> Payment | None:
        row = await self.db.fetchone("SELECT * FROM payments WHERE order_id = ?", (order_id,))
        return row_to_payment(row) if row else None

    async def get_by_provider_ref(self, method: str, ref: str) -> Payment | None:
        row = await self.db.fetchone(
            "SELECT * FROM payments WHERE method = ? AND provider_ref = ?", (method, ref))
        return row_to_payment(row) if row else None

    async def search(
        self,
        *,
        status: str | None = None,
        method: str | None = None,
        asset: str | None = None,
        customer: str | None = None,
        created_after: int | None = None,
        created_before: int | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[Payment]:
        where: list[str] = []
        args: list[Any] = []
        for column, value in (("status", status), ("method", method), ("asset", asset),
                              ("customer", customer)):
            if value is not None:
                where.append(f"{column} = ?")
                args.append(value)
        if created_after is not None:
            where.append("created_at >= ?")
            args.append(created_after)
        if created_before is not None:
            where.append("created_at < ?")
            args.append(created_before)
        sql = "SELECT * FROM payments"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY created_at DESC, id LIMIT ? OFFSET ?"
        rows = await self.db.fetchall(sql, [*args, limit, offset])
        return [row_to_payment(r) for r in rows]

    async def open_expired(self, now: int, limit: int = 500) -> list[Payment]:
        rows = await self.db.fetchall(
            "SELECT * FROM payments WHERE status IN ('new', 'seen') AND expires_at IS NOT NULL"
            " AND expires_at <= ? ORDER BY expires_at LIMIT ?", (now, limit))
        return [row_to_payment(r) for r in rows]

    async def pending_for_method(self, method: str, limit: int) -> list[Payment]:
        rows = await self.db.fetchall(
            "SELECT * FROM payments WHERE method = ? AND status IN ('new', 'seen')"
            " ORDER BY created_at LIMIT ?", (method, limit))
        return [row_to_payment(r) for r in rows]

    async def count_by_status(self) -> dict[str, int]:
        rows = await self.db.fetchall("SELECT status, COUNT(*) FROM payments GROUP BY status")
        return {r[0]: r[1] for r in rows}

    async def events(self, payment_id: str) -> list[dict[str, Any]]:
        rows = await self.db.fetchall(
            "SELECT event_id, event, from_state, to_state, at, source, details"
            " FROM payment_events WHERE payment_id = ? ORDER BY seq", (payment_id,))
        return [{**dict(r), "details": json.loads(r["details"])} for r in rows]

    async def dedupe_seen(self, key: str) -> bool:
        row = await self.db.fetchone("SELECT 1 FROM payment_events WHERE dedupe_key = ?", (key,))
        return row is not None

    async def transition(
        self,
        current: Payment,
        changes: Mapping[str, Any],
        event: EventRow,
        postback: PostbackRow | None,
    ) -> bool:
        """Compare-and-set: apply ``changes`` only if the row still has ``current``'s version.

        The event row and the postback are written in the same transaction. Returns False
        when another writer got there first; raises DuplicateEvent on a seen dedupe key.
        """

        async def op(conn: aiosqlite.Connection) -> bool:
            sets = ", ".join(f"{k} = ?" for k in changes)
            cursor = await conn.execute(
                f"UPDATE payments SET {sets}, version = version + 1"
                " WHERE id = ? AND status = ? AND version = ?",
                [*(to_column(k, v) for k, v in changes.items()),
                 current.id, current.status.value, current.version])
            if cursor.rowcount != 1:
                return False
            try:
                await _insert_event(conn, current.id, event)
            except sqlite3.IntegrityError as exc:
                raise DuplicateEvent(event.dedupe_key) from exc
            if postback is not None:
                await conn.execute(
                    "INSERT INTO postbacks (event_id, payment_id, event, url, body, status,"
                    " next_attempt_at, created_at) VALUES (?, ?, ?, ?, ?, 'pending', ?, ?)",
                    (postback.event_id, current.id, postback.event, postback.url, postback.body,
                     postback.created_at, postback.created_at))
            return True

        return await self.db.write(op)

    async def claim(self, key: str, now: int) -> bool:
        async def op(conn: aiosqlite.Connection) -> bool:
            cursor = await conn.execute(
                "INSERT OR IGNORE INTO claims (key, claimed_at) VALUES (?, ?)", (key, now))
            return cursor.rowcount == 1

        return await self.db.write(op)


async def _next_index(conn: aiosqlite.Connection, first: int) -> int:
    """Next never-used derivation index (a counter, so an index is never handed out twice)."""
    await conn.execute(
        "INSERT OR IGNORE INTO counters (name, value) VALUES ('derivation_index', ?)", (first,))
    async with conn.execute(
        "UPDATE counters SET value = MAX(value, ?) + 1 WHERE name = 'derivation_index'"
        " RETURNING value - 1", (first,)
    ) as cursor:
        row = await cursor.fetchone()
    assert row is not None
    return int(row[0])


async def _insert_event(conn: aiosqlite.Connection, payment_id: str, e: EventRow) -> None:
    await conn.execute(
        "INSERT INTO payment_events (event_id, payment_id, event, from_state, to_state, at,"
        " source, dedupe_key, details) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (e.event_id, payment_id, e.event, e.from_state, e.to_state, e.at, e.source,
         e.dedupe_key, json.dumps(dict(e.details), default=str, separators=(",", ":"))))


def _replace(p: Payment, **changes: Any) -> Payment:
    from dataclasses import replace

    return replace(p, **changes)

"""The payment event log (``payment_events``), on either engine.

Append-only: the processor appends one row per creation and transition in the same unit of
work as the payment row; readers follow it by its ``seq`` (the subscription bridge) or read
one payment's history (the admin API, the CLI).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import Any

from xbtcpay.core.errors import ConstraintViolation
from xbtcpay.core.persistence import DuplicateEvent, Engine, EventRow, Row, UnitOfWork
from xbtcpay.storage.sql import SNAPSHOT_XMIN, compact_json


async def append_event(uow: UnitOfWork, payment_id: str, e: EventRow) -> None:
    """Append to the payment's event log; a seen dedupe key raises DuplicateEvent."""
    try:
        await uow.execute(
            "INSERT INTO payment_events (event_id, payment_id, event, from_state, to_state, at,"
            " source, dedupe_key, details) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                e.event_id,
                payment_id,
                e.event,
                e.from_state,
                e.to_state,
                e.at,
                e.source,
                e.dedupe_key,
                compact_json(dict(e.details)),
            ),
        )
    except ConstraintViolation as exc:
        if e.dedupe_key is None:
            raise
        raise DuplicateEvent(e.dedupe_key) from exc


async def events_of(engine: Engine, payment_id: str) -> list[dict[str, Any]]:
    """One payment's events in the order they were applied (details decoded)."""
    rows = await engine.fetchall(
        "SELECT event_id, event, from_state, to_state, at, source, details"
        " FROM payment_events WHERE payment_id = ? ORDER BY seq",
        (payment_id,),
    )
    return [{**dict(r), "details": json.loads(r["details"])} for r in rows]


async def dedupe_seen(engine: Engine, key: str) -> bool:
    """Whether an event with this dedupe key was applied."""
    row = await engine.fetchone("SELECT 1 FROM payment_events WHERE dedupe_key = ?", (key,))
    return row is not None


@dataclass(frozen=True)
class EventCursor:
    """How far a follower of the event log has read.

    ``seq``: every event without a commit watermark (SQLite's, and PostgreSQL's older than
    migration 261) up to this seq. ``xid``/``xid_seq``: on PostgreSQL, every event up to
    this (inserting transaction, seq) in that order."""

    seq: int = 0
    xid: int = 0
    xid_seq: int = 0


_FOLLOWED = (
    "SELECT e.seq, e.created_xid, e.event_id, e.event, p.method, p.customer, p.asset,"
    " p.amount, p.provider_ref, p.product, p.id AS payment_id, p.extra FROM payment_events e"
    " JOIN payments p ON p.id = e.payment_id"
)


async def events_after(
    uow: UnitOfWork, cursor: EventCursor, limit: int
) -> tuple[list[Row], EventCursor]:
    """Up to ``limit`` events after ``cursor`` and the cursor after them, each with what its
    payment says about the provider's subscription: ``seq, event_id, event, method,
    customer, asset, amount, provider_ref, product, payment_id, extra`` (``extra`` as stored
    JSON text).

    On SQLite events commit in seq order (one writer). On PostgreSQL several replicas'
    writers can commit a lower seq after a higher one, so following by seq alone could skip
    an event for good: there only events of transactions older than every transaction still
    running are returned (they are all committed or gone), in the order of (inserting
    transaction, seq); an event of a transaction still running comes in a later call."""
    if uow.dialect != "postgresql":
        rows = await uow.fetchall(
            _FOLLOWED + " WHERE e.seq > ? ORDER BY e.seq LIMIT ?", (cursor.seq, limit)
        )
    else:
        horizon = await uow.fetchone(SNAPSHOT_XMIN)
        assert horizon is not None
        rows = await uow.fetchall(
            _FOLLOWED + " WHERE (e.created_xid IS NULL AND e.seq > ?)"
            " OR (e.created_xid < ? AND (e.created_xid, e.seq) > (?, ?))"
            " ORDER BY e.created_xid NULLS FIRST, e.seq LIMIT ?",
            (cursor.seq, int(horizon[0]), cursor.xid, cursor.xid_seq, limit),
        )
    for row in rows:
        if row["created_xid"] is None:
            cursor = replace(cursor, seq=int(row["seq"]))
        else:
            cursor = replace(cursor, xid=int(row["created_xid"]), xid_seq=int(row["seq"]))
    return rows, cursor

"""The payment event log (``payment_events``), on either engine.

Append-only: the processor appends one row per creation and transition in the same unit of
work as the payment row; readers follow it by its ``seq`` (the subscription bridge) or read
one payment's history (the admin API, the CLI).
"""

from __future__ import annotations

import json
from typing import Any

from xbtcpay.core.errors import ConstraintViolation
from xbtcpay.core.persistence import DuplicateEvent, Engine, EventRow, Row, UnitOfWork

# json.dumps with arguments builds an encoder per call; one shared encoder writes the same text
_COMPACT = json.JSONEncoder(default=str, separators=(",", ":")).encode


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
                _COMPACT(dict(e.details)),
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


async def events_after(uow: UnitOfWork, seq: int, limit: int) -> list[Row]:
    """Up to ``limit`` events after ``seq``, oldest first, each with what its payment says
    about the provider's subscription: ``seq, event_id, event, method, customer, asset,
    amount, provider_ref, product, payment_id, extra`` (``extra`` as stored JSON text)."""
    return await uow.fetchall(
        "SELECT e.seq, e.event_id, e.event, p.method, p.customer, p.asset, p.amount,"
        " p.provider_ref, p.product, p.id AS payment_id, p.extra FROM payment_events e"
        " JOIN payments p ON p.id = e.payment_id WHERE e.seq > ? ORDER BY e.seq LIMIT ?",
        (seq, limit),
    )

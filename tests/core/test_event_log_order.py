"""Following the payment event log on PostgreSQL: an event whose transaction commits after a
later-numbered one is still read, once (the subscription bridge follows this log).

Each test opens its own database on the session's PostgreSQL server (the ``postgres``
fixture), so these run on the PostgreSQL pass.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest

from tests.pg import HeldOpen
from xbtcpay.core.models import Payment
from xbtcpay.core.persistence import EventRow, UnitOfWork
from xbtcpay.core.state import State
from xbtcpay.storage.engines import open_engine
from xbtcpay.storage.payment_events import EventCursor, append_event, events_after
from xbtcpay.storage.payments import insert_payment
from xbtcpay.storage.pg_server import PgServer

PAYMENT = "pEventLog0000001"


@pytest.fixture
async def engine(postgres: PgServer) -> AsyncIterator[Any]:
    db = await open_engine(postgres.create_database("events_" + secrets.token_hex(4)))

    async def work(uow: UnitOfWork) -> None:
        await insert_payment(
            uow,
            Payment(PAYMENT, "appstore", "EUR", Decimal("4.99"), State.NEW, 1_700_000_000),
        )

    await db.transact(work)
    try:
        yield db
    finally:
        await db.close()


def _event(name: str) -> EventRow:
    return EventRow(f"evt_{name}", name, "new", "paid", 1_700_000_000, "test", None, {})


async def _append(engine: Any, name: str) -> None:
    async def work(uow: UnitOfWork) -> None:
        await append_event(uow, PAYMENT, _event(name))

    await engine.transact(work)


async def _follow(engine: Any, cursor: EventCursor) -> tuple[list[str], EventCursor]:
    async def work(uow: UnitOfWork) -> tuple[list[str], EventCursor]:
        rows, after = await events_after(uow, cursor, 100)
        return [r["event_id"] for r in rows], after

    result: tuple[list[str], EventCursor] = await engine.transact(work)
    return result


async def test_an_event_committed_after_a_later_numbered_one_is_read_once(engine: Any) -> None:
    """Replica A appends ``early`` (the lower seq) and commits late; replica B appends
    ``late`` and commits at once; the follower reads in between: following by seq alone
    would move past ``early`` before it committed and never read it."""
    seen: list[str] = []
    cursor = EventCursor()
    await _append(engine, "before")
    read, cursor = await _follow(engine, cursor)
    seen += read
    held = HeldOpen(engine, lambda uow: append_event(uow, PAYMENT, _event("early")))
    await held.written.wait()
    await _append(engine, "late")
    read, cursor = await _follow(engine, cursor)
    seen += read
    assert "evt_early" not in seen  # not committed yet
    await held.commit()
    for _ in range(2):
        read, cursor = await _follow(engine, cursor)
        seen += read
    assert sorted(seen) == ["evt_before", "evt_early", "evt_late"]  # each exactly once


async def test_nothing_is_read_twice_and_the_cursor_moves_only_forward(engine: Any) -> None:
    cursor = EventCursor()
    for n in range(5):
        await _append(engine, f"e{n}")
    read, after = await _follow(engine, cursor)
    assert read == [f"evt_e{n}" for n in range(5)]
    assert (after.xid, after.xid_seq) > (cursor.xid, cursor.xid_seq)
    assert await _follow(engine, after) == ([], after)

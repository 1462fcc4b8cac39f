"""The unit of work: a transition and a caller's own rows commit together or not at all,
on whichever engine the run uses; driver errors never reach domain code."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests import pg
from tests.harness import running_daemon
from xbtcpay.core.errors import ConstraintViolation
from xbtcpay.core.models import Payment, PaymentEvent
from xbtcpay.core.persistence import UnitOfWork
from xbtcpay.core.state import Event
from xbtcpay.storage.database import Database

RECEIPTS = (
    "CREATE TABLE receipts (payment_id TEXT PRIMARY KEY REFERENCES payments (id),"
    " amount TEXT NOT NULL, event TEXT NOT NULL)"
)


async def _receipts(d: Any) -> list[tuple[str, str, str]]:
    rows = await d.runtime.db.fetchall(
        "SELECT payment_id, amount, event FROM receipts ORDER BY payment_id"
    )
    return [(r["payment_id"], r["amount"], r["event"]) for r in rows]


async def _with_receipts_table(d: Any) -> None:
    async def work(uow: UnitOfWork) -> None:
        await uow.execute(RECEIPTS)

    await d.runtime.db.transact(work)


async def add_receipt(uow: UnitOfWork, payment: Payment, event: str) -> None:
    """A repository function of a caller's own table, taking the unit of work."""
    await uow.execute(
        "INSERT INTO receipts (payment_id, amount, event) VALUES (?, ?, ?)",
        (payment.id, format(payment.amount_received, "f"), event),
    )


async def test_also_rows_commit_with_the_transition(tmp_path: Path) -> None:
    async with running_daemon(tmp_path) as d:
        await _with_receipts_table(d)
        pid = (await d.start_payment("2"))["id"]
        result = await d.processor.apply(
            pid,
            PaymentEvent(Event.PAID, amount_received=Decimal(2)),
            also=lambda uow, p: add_receipt(uow, p, "paid"),
        )
        assert result.changed and result.payment.status == "paid"
        assert await _receipts(d) == [(pid, "2", "paid")]


async def test_a_failing_unit_leaves_nothing_behind(tmp_path: Path) -> None:
    async with running_daemon(tmp_path) as d:
        await _with_receipts_table(d)
        pid = (await d.start_payment("2", postback_url="http://127.0.0.1:9/pb"))["id"]
        events_before = await d.runtime.payments.events(pid)

        async def fails_after_writing(uow: UnitOfWork, p: Payment) -> None:
            await add_receipt(uow, p, "paid")
            raise RuntimeError("the ledger refused")

        with pytest.raises(RuntimeError, match="ledger refused"):
            await d.processor.apply(
                pid, PaymentEvent(Event.PAID, amount_received=Decimal(2)), also=fails_after_writing
            )
        payment = await d.runtime.payments.get(pid)
        assert payment.status == "new" and payment.version == 0
        assert payment.amount_received == 0
        assert await d.runtime.payments.events(pid) == events_before
        assert await d.runtime.postbacks.search(payment_id=pid) == []
        assert await _receipts(d) == []
        # the daemon carries on: the same transition succeeds afterwards
        ok = await d.processor.apply(
            pid,
            PaymentEvent(Event.PAID, amount_received=Decimal(2)),
            also=lambda uow, p: add_receipt(uow, p, "paid"),
        )
        assert ok.changed and await _receipts(d) == [(pid, "2", "paid")]
        assert len(await d.runtime.postbacks.search(payment_id=pid)) == 1


async def test_transaction_hooks_see_every_creation_and_transition(tmp_path: Path) -> None:
    async with running_daemon(tmp_path) as d:
        await _with_receipts_table(d)
        seen: list[tuple[str | None, str, str]] = []

        async def hook(uow: UnitOfWork, before: Payment | None, after: Payment, event: str) -> None:
            seen.append((before.status.value if before else None, after.status.value, event))
            if event == "paid":
                await add_receipt(uow, after, event)

        d.processor.transaction_hooks.append(hook)
        pid = (await d.start_payment("3"))["id"]
        await d.processor.apply(pid, PaymentEvent(Event.SEEN, amount_received=Decimal(1)))
        await d.processor.apply(pid, PaymentEvent(Event.PAID, amount_received=Decimal(3)))
        assert seen == [(None, "new", "created"), ("new", "seen", "seen"), ("seen", "paid", "paid")]
        assert await _receipts(d) == [(pid, "3", "paid")]


async def test_constraint_violations_are_the_projects_error(tmp_path: Path) -> None:
    async with running_daemon(tmp_path) as d:
        await _with_receipts_table(d)
        pid = (await d.start_payment("1"))["id"]
        payment = await d.runtime.payments.get(pid)

        async def twice(uow: UnitOfWork) -> None:
            await add_receipt(uow, payment, "paid")
            await add_receipt(uow, payment, "paid")

        with pytest.raises(ConstraintViolation):
            await d.runtime.db.transact(twice)
        assert await _receipts(d) == []

        async def dangling(uow: UnitOfWork) -> None:
            await uow.execute(
                "INSERT INTO receipts (payment_id, amount, event)"
                " VALUES ('no-such-payment', '1', 'paid')"
            )

        with pytest.raises(ConstraintViolation):
            await d.runtime.db.transact(dangling)


async def test_units_read_their_own_writes(tmp_path: Path) -> None:
    async with running_daemon(tmp_path) as d:
        pid = (await d.start_payment("1.25"))["id"]

        async def work(uow: UnitOfWork) -> tuple[str, int]:
            row = await uow.fetchone("SELECT amount, version FROM payments WHERE id = ?", (pid,))
            assert row is not None
            changed = await uow.execute(
                "UPDATE payments SET reason = ? WHERE id = ? AND version = ?",
                ("checked", pid, row["version"]),
            )
            again = await uow.fetchall("SELECT reason FROM payments WHERE id = ?", (pid,))
            return row["amount"], changed + len(again)

        assert await d.runtime.db.transact(work) == ("1.25", 2)
        assert (await d.runtime.payments.get(pid)).reason == "checked"


@pytest.mark.sqlite_only("the SQLite writer's group commit")
async def test_sqlite_units_share_commits_and_fail_alone(tmp_path: Path) -> None:
    db = Database(str(tmp_path / "x.db"))
    await db.open()
    try:
        await db.migrate()

        async def insert(n: int) -> int:
            async def work(uow: UnitOfWork) -> int:
                if n == 7:
                    raise ValueError("unit 7 fails alone")
                return await uow.execute(
                    "INSERT INTO counters (name, value) VALUES (?, ?)", (f"c{n}", n)
                )

            return await db.transact(work)

        before = db.commits
        results = await asyncio.gather(*(insert(n) for n in range(50)), return_exceptions=True)
        assert [type(r).__name__ for r in results].count("ValueError") == 1
        assert db.commits - before < 50
        row = await db.fetchone("SELECT COUNT(*) FROM counters WHERE name LIKE 'c%'")
        assert row is not None and row[0] == 49
    finally:
        await db.close()


def test_the_run_uses_the_engine_it_was_asked_for(tmp_path: Path) -> None:
    url = pg.database_url(tmp_path)
    assert url.startswith("postgresql://" if pg.on_postgresql() else "sqlite:///")

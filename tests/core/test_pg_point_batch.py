"""Reads of payments by id asked for together share one statement on PostgreSQL
(``storage/point_batch.py``): every caller gets its own payment, a failed batch fails each of
its callers and no other, and a read asked for after a commit was acknowledged sees it."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest

from xbtcpay.core.errors import StorageError
from xbtcpay.core.models import Payment
from xbtcpay.core.persistence import UnitOfWork
from xbtcpay.core.state import State
from xbtcpay.storage.payments import PaymentStore, compare_and_set, insert_payment
from xbtcpay.storage.pg_server import PgServer
from xbtcpay.storage.point_batch import KeyBatcher
from xbtcpay.storage.postgres import PostgresDatabase

NOW = int(time.time())


class Table:
    """A key -> row table read by several keys at once, recording each batch it is asked."""

    def __init__(self, rows: dict[str, dict[str, str]]) -> None:
        self.rows = rows
        self.batches: list[list[str]] = []
        self.fail_next = False

    async def read_many(self, keys: list[str]) -> list[dict[str, str]]:
        self.batches.append(keys)
        await asyncio.sleep(0.01)  # a round trip
        if self.fail_next:
            self.fail_next = False
            raise StorageError("database unavailable")
        return [self.rows[k] for k in keys if k in self.rows]


def _table(n: int) -> Table:
    return Table({f"k{i}": {"id": f"k{i}", "value": f"v{i}"} for i in range(n)})


async def test_reads_asked_together_share_batches_and_each_gets_its_row() -> None:
    table = _table(100)
    batcher = KeyBatcher(table.read_many, lambda row: row["id"], lanes=2)
    assert (await batcher.get("k7"))["value"] == "v7"  # a lone read: one batch of one
    assert table.batches == [["k7"]]
    keys = [f"k{i}" for i in range(100)] + ["k3", "missing"]
    rows = await asyncio.gather(*(batcher.get(k) for k in keys))
    assert [r["value"] for r in rows[:100]] == [f"v{i}" for i in range(100)]
    assert rows[100]["value"] == "v3" and rows[101] is None
    later = table.batches[1:]
    assert len(later) <= 4 and sorted(k for b in later for k in b) == sorted(set(keys))


async def test_a_key_asked_while_a_batch_is_in_flight_waits_for_the_next() -> None:
    table = _table(10)
    batcher = KeyBatcher(table.read_many, lambda row: row["id"], lanes=1)
    first = asyncio.create_task(batcher.get("k1"))
    await asyncio.sleep(0)  # the batch of k1 is sent
    second = asyncio.create_task(batcher.get("k2"))
    assert (await first)["value"] == "v1" and (await second)["value"] == "v2"
    assert table.batches == [["k1"], ["k2"]]


async def test_a_failed_batch_fails_each_of_its_callers_and_no_other() -> None:
    table = _table(10)
    batcher = KeyBatcher(table.read_many, lambda row: row["id"], lanes=1)
    table.fail_next = True
    first = asyncio.create_task(batcher.get("k1"))
    await asyncio.sleep(0)
    rest = [asyncio.create_task(batcher.get(f"k{i}")) for i in (2, 3)]
    with pytest.raises(StorageError):
        await first
    assert [(await t)["value"] for t in rest] == ["v2", "v3"]  # the next batch read them
    assert (await batcher.get("k4"))["value"] == "v4"


def _payment(n: int) -> Payment:
    return Payment(
        id=f"pay{n:08d}",
        method="crypto",
        asset="0xbtc",
        amount=Decimal("1.5"),
        status=State.NEW,
        created_at=NOW,
        address=f"0x{n:040x}",
        derivation_index=n,
        expires_at=NOW + 3600,
    )


@pytest.fixture
async def store(postgres: PgServer) -> AsyncIterator[PaymentStore]:
    engine = PostgresDatabase(postgres.create_database("point_batch"), pool_size=10)
    await engine.open()
    await engine.migrate()

    async def insert(uow: UnitOfWork) -> None:
        for n in range(300):
            await insert_payment(uow, _payment(n))

    await engine.transact(insert)
    try:
        yield PaymentStore(engine)
    finally:
        await engine.close()
        postgres.drop_database("point_batch")


async def test_concurrent_gets_on_postgresql_each_get_their_payment(store: PaymentStore) -> None:
    ids = [f"pay{n:08d}" for n in range(300)]
    asked = ids + ["nosuchpayment", "pay\x0000001", ids[5]]
    found = await asyncio.gather(*(store.get(i) for i in asked))
    assert [p.id if p else None for p in found] == ids + [None, None, ids[5]]
    assert found[0] == _payment(0)


async def test_a_get_after_an_acknowledged_change_sees_it_under_concurrent_gets(
    store: PaymentStore,
) -> None:
    ids = [f"pay{n:08d}" for n in range(300)]
    stop = asyncio.Event()
    rng = random.Random(3)

    async def poller() -> None:
        while not stop.is_set():
            await store.get(rng.choice(ids))

    pollers = [asyncio.create_task(poller()) for _ in range(16)]
    stale = []
    try:
        for i in range(60):
            current = await store.get(ids[0])
            assert current is not None

            async def change(uow: UnitOfWork, current: Payment = current, i: int = i) -> bool:
                return await compare_and_set(uow, current, {"tx_hash": f"0x{i:064x}"})

            assert await store.engine.transact(change)
            seen = await store.get(ids[0])
            if seen is None or seen.tx_hash != f"0x{i:064x}":
                stale.append(i)
    finally:
        stop.set()
        await asyncio.gather(*pollers)
    assert stale == []

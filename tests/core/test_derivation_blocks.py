"""Derivation indexes on PostgreSQL come from blocks each replica reserves apart; payments
then commit out of index order, and the watcher's address book still misses none.

Each test opens its own database on the session's PostgreSQL server (the ``postgres``
fixture), so these run on the PostgreSQL pass.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest

from tests.pg import HeldOpen
from xbtcpay.core.deposits import AddressBook
from xbtcpay.core.models import CRYPTO, Payment
from xbtcpay.core.persistence import Engine, UnitOfWork
from xbtcpay.core.state import State
from xbtcpay.storage import derivation_indexes
from xbtcpay.storage.chain_store import ChainStore
from xbtcpay.storage.derivation_indexes import IndexBlocks
from xbtcpay.storage.engines import open_engine
from xbtcpay.storage.payments import insert_payment
from xbtcpay.storage.pg_server import PgServer


@pytest.fixture
async def engine(postgres: PgServer) -> AsyncIterator[Any]:
    db = await open_engine(postgres.create_database("blocks_" + secrets.token_hex(4)))
    try:
        yield db
    finally:
        await db.close()


def _payment(index: int) -> Payment:
    return Payment(
        id=f"pBlocks{index:08d}",
        method=CRYPTO,
        asset="0xbtc",
        amount=Decimal("1"),
        status=State.NEW,
        created_at=1_700_000_000,
        address="0x" + f"{index:040x}",
        derivation_index=index,
    )


async def _insert(engine: Engine, index: int) -> None:
    async def work(uow: UnitOfWork) -> None:
        await insert_payment(uow, _payment(index))

    await engine.transact(work)


async def _counter(engine: Engine) -> int:
    """The first index the database has never handed out."""

    async def work(uow: UnitOfWork) -> int | None:
        return await derivation_indexes.counter(uow)

    value = await engine.transact(work)
    assert value is not None
    return value


async def test_an_address_committed_after_a_higher_index_was_loaded_is_still_loaded(
    engine: Any,
) -> None:
    """Replica A holds index 5 uncommitted while replica B commits 6 and the watcher loads;
    then A commits: the next load finds 5 (loading by ``index > last`` would skip it)."""
    store, book = ChainStore(engine), AddressBook()
    await _insert(engine, 4)
    assert await store.load_addresses(book) == 1
    held = HeldOpen(engine, lambda uow: insert_payment(uow, _payment(5)))
    await held.written.wait()
    await _insert(engine, 6)
    assert await store.load_addresses(book) == 1  # 6; 5 is not committed
    assert book.get(_payment(6).address) is not None and book.get(_payment(5).address) is None
    await held.commit()
    assert await store.load_addresses(book) == 1
    assert book.get(_payment(5).address) is not None
    assert await store.load_addresses(book) == 0
    assert len(book) == 3


async def test_the_first_load_misses_no_address_committed_while_it_ran(engine: Any) -> None:
    store, book = ChainStore(engine), AddressBook()
    held = HeldOpen(engine, lambda uow: insert_payment(uow, _payment(1)))
    await held.written.wait()
    await _insert(engine, 2)
    assert await store.load_addresses(book) == 1
    await held.commit()
    assert await store.load_addresses(book) == 1
    assert len(book) == 2


async def test_rows_read_again_are_not_counted_twice(engine: Any) -> None:
    """A transaction left open holds the watermark back: later loads read the rows since
    again (harmless), and report only what is new."""
    store, book = ChainStore(engine), AddressBook()
    held = HeldOpen(engine, lambda uow: insert_payment(uow, _payment(100)))
    await held.written.wait()
    assert await store.load_addresses(book) == 0
    for index in range(3):
        await _insert(engine, index)
        assert await store.load_addresses(book) == 1
    await held.commit()
    assert await store.load_addresses(book) == 1
    assert len(book) == 4


async def test_two_replicas_never_hand_out_one_index_twice(engine: Any) -> None:
    a, b = IndexBlocks(engine.transact_apart), IndexBlocks(engine.transact_apart)
    taken = await asyncio.gather(*(r.take(0) for _ in range(150) for r in (a, b)))
    assert len(set(taken)) == 300
    assert await _counter(engine) > max(taken)
    assert a.blocks + b.blocks < 100  # a burst reserves blocks, not an index at a time


async def test_a_restarted_replica_never_reuses_its_predecessors_block(engine: Any) -> None:
    """A replica killed with most of its block unused: the one started after it hands out
    indexes above that whole block (a gap), never one of its indexes."""
    before = IndexBlocks(engine.transact_apart)
    burst = await asyncio.gather(*(before.take(0) for _ in range(40)))
    burst.append(await before.take(0))  # the burst used its block up: a larger one
    block_end = before._end  # noqa: SLF001 - the block the dead replica held
    assert max(burst) < block_end - 1  # part of it was never used
    after = IndexBlocks(engine.transact_apart)
    assert await after.take(0) == block_end


async def test_the_first_index_of_the_wallet_is_respected(engine: Any) -> None:
    blocks = IndexBlocks(engine.transact_apart, clock=lambda: 0.0)
    assert [await blocks.take(0), await blocks.take(0)] == [0, 1]  # blocks [0], [1, 2]
    assert await blocks.take(1000) == 1000  # 2 is left in the block, but below the first
    assert await blocks.take(0) == 1001


async def test_block_sizes_follow_the_rate_of_payments(engine: Any) -> None:
    now = [0.0]
    blocks = IndexBlocks(engine.transact_apart, clock=lambda: now[0])
    sizes = []
    for _ in range(5):  # used up at once: each block twice the last
        start = await blocks.take(0)
        sizes.append(blocks._end - start)  # noqa: SLF001
        while blocks._next < blocks._end:  # noqa: SLF001
            await blocks.take(0)
    assert sizes == [1, 2, 4, 8, 16]
    now[0] += IndexBlocks.SLOW + 1  # a quiet shop: one index per block again
    start = await blocks.take(0)
    assert blocks._end - start == 1  # noqa: SLF001

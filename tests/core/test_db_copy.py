"""``xbtcpay db copy``: a populated SQLite installation moves to PostgreSQL, verified, and
the daemon carries on from the copy (same payments, same checkpoint, pending postbacks
delivered, derivation indexes continue)."""

from __future__ import annotations

import secrets
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

import xbtcpay.storage.copy as copy_module
from tests.harness import PostbackReceiver, free_port, running_daemon
from xbtcpay.chain.deposits import Deposit
from xbtcpay.chain.reorg import Header
from xbtcpay.core.models import PaymentEvent
from xbtcpay.core.persistence import UnitOfWork
from xbtcpay.core.state import Event
from xbtcpay.storage.chain_store import ChainStore
from xbtcpay.storage.copy import TABLES, copy_database, table_columns, verify
from xbtcpay.storage.engines import open_engine
from xbtcpay.storage.pg_server import PgServer

FAST_RETRY = {"postback": {"base_delay": 0.2, "max_delay": 0.5}}


def _db_copy(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "xbtcpay", "db", "copy", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def _populate(d: Any, postback_url: str) -> dict[str, Any]:
    """Payments in several states, a pending postback, a checkpoint with a deposit."""
    paid = (await d.start_payment("1.5", postback_url=postback_url))["id"]
    await d.processor.apply(
        paid,
        PaymentEvent(
            Event.SEEN, amount_received=Decimal("1.5"), tx_hash="0x" + "ab" * 32, tx_block=7
        ),
    )
    await d.processor.apply(paid, PaymentEvent(Event.PAID))
    open_ = (await d.start_payment("2"))["id"]
    canceled = (await d.start_payment("3"))["id"]
    await d.processor.apply(canceled, PaymentEvent(Event.CANCELED))
    payment = await d.runtime.payments.get(paid)
    store = ChainStore(d.runtime.db)
    await store.start_at(100, Header(100, "0x" + "01" * 32, "0x" + "00" * 32))
    deposit = Deposit(
        key="log:0xb1:3",
        payment_id=paid,
        asset="0xbtc",
        address=payment.address,
        units=150_000_000,
        kind="erc20",
        tx_hash="0x" + "ab" * 32,
        block_number=101,
        block_hash="0x" + "02" * 32,
        position=3,
    )
    await store.checkpoint(101, [Header(101, "0x" + "02" * 32, "0x" + "01" * 32)], [deposit], 0)
    return {"ids": [paid, open_, canceled], "cursor": 101}


async def test_sqlite_installation_moves_to_postgresql_and_carries_on(
    tmp_path: Path, postgres: PgServer
) -> None:
    sqlite_url = f"sqlite:///{tmp_path}/old.db"
    hook_port = free_port()
    hook = f"http://127.0.0.1:{hook_port}/postback"
    for sub in ("old", "new"):
        (tmp_path / sub).mkdir()
    async with running_daemon(tmp_path / "old", {"database": sqlite_url, **FAST_RETRY}) as d:
        facts = await _populate(d, hook)
        before = {pid: (await d.call("get_payment", {"id": pid}))["result"] for pid in facts["ids"]}
        indexes = [p.derivation_index for p in await d.runtime.payments.search()]
        await d.processor.apply(facts["ids"][1], PaymentEvent(Event.RECEIVED))  # refused: no-op
        assert (await d.runtime.postbacks.stats()).get("pending") == 1

    target = postgres.create_database("copy_" + secrets.token_hex(4))
    done = _db_copy(sqlite_url, target)
    assert done.returncode == 0, done.stderr
    assert "verified" in done.stdout
    for table in TABLES:
        assert any(
            line.startswith(table) and line.endswith("ok") for line in done.stdout.splitlines()
        ), (table, done.stdout)

    async with (
        PostbackReceiver(port=hook_port) as receiver,
        running_daemon(tmp_path / "new", {"database": target, **FAST_RETRY}) as d,
    ):
        for pid, answer in before.items():
            assert (await d.call("get_payment", {"id": pid}))["result"] == answer
        assert await ChainStore(d.runtime.db).cursor() == facts["cursor"]
        [got] = await receiver.wait_for(1)
        assert got["json"]["id"] == facts["ids"][0] and got["json"]["event"] == "paid"
        fresh = await d.start_payment("4")
        payment = await d.runtime.payments.get(fresh["id"])
        assert payment.derivation_index > max(i for i in indexes if i is not None)
        assert payment.address not in {b["address"] for b in before.values()}

    again = _db_copy(sqlite_url, target)
    assert again.returncode == 2
    assert again.stderr.strip().splitlines() == [
        "database error: target database is not empty (table payments)"
    ]


async def test_verify_finds_a_changed_row(tmp_path: Path, postgres: PgServer) -> None:
    async with running_daemon(tmp_path, {"database": f"sqlite:///{tmp_path}/a.db"}) as d:
        await d.start_payment("1")
    source = await open_engine(f"sqlite:///{tmp_path}/a.db")
    target = await open_engine(postgres.create_database("verify_" + secrets.token_hex(4)))
    try:
        checks = await copy_database(source, target)
        assert all(c.ok for c in checks) and [c.table for c in checks] == list(TABLES)
        assert {c.table: c.target_rows for c in checks}["payments"] == 1

        async def tamper(uow: UnitOfWork) -> None:
            await uow.execute("UPDATE payments SET amount = '1.0000001'")

        await target.transact(tamper)
        layout = {table: await table_columns(source, table) for table in TABLES}
        bad = [c.table for c in await verify(source, target, layout) if not c.ok]
        assert bad == ["payments"]
    finally:
        await source.close()
        await target.close()


async def test_composite_keys_are_paged_by_the_whole_key(
    tmp_path: Path, postgres: PgServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Sweep items share their first key column (the sweep): chunks must not skip any."""
    monkeypatch.setattr(copy_module, "CHUNK", 3)
    source = await open_engine(f"sqlite:///{tmp_path}/a.db")
    target = await open_engine(postgres.create_database("keys_" + secrets.token_hex(4)))

    async def sweep(uow: UnitOfWork) -> None:
        await uow.execute(
            "INSERT INTO sweeps (id, tx_hash, chain_id, asset, kind, treasury, sender, nonce,"
            " gas_limit, raw_tx, created_at) VALUES (1, '0x01', 31337, '0xbtc', 'eip7702',"
            " '0xt', '0xs', 0, 100000, '0x', 1)"
        )
        await uow.executemany(
            "INSERT INTO sweep_items (sweep_id, address, derivation_index, planned_units,"
            " payment_ids) VALUES (1, ?, ?, '1', '[]')",
            [(f"0x{i:040x}", i) for i in range(7)],
        )

    try:
        await source.transact(sweep)
        checks = {c.table: c for c in await copy_database(source, target)}
        assert (checks["sweep_items"].source_rows, checks["sweep_items"].ok) == (7, True)
        row = await target.fetchone("SELECT COUNT(*) FROM sweep_items")
        assert row is not None and int(row[0]) == 7
    finally:
        await source.close()
        await target.close()


def test_wrong_password_or_url_is_one_line_and_exit_2(tmp_path: Path, postgres: PgServer) -> None:
    sqlite_url = f"sqlite:///{tmp_path}/none.db"
    nothing = _db_copy(sqlite_url, f"postgresql://xbtcpay@127.0.0.1:{free_port()}/x")
    assert nothing.returncode == 2
    [line] = nothing.stderr.strip().splitlines()
    assert line.startswith("database error: cannot connect to PostgreSQL")
    missing = _db_copy(sqlite_url, postgres.url("no_such_database"))
    assert missing.returncode == 2
    assert missing.stderr.strip() == "database error: PostgreSQL has no such database"

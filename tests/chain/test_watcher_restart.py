"""Watcher acceptance 4: kill -9 during a stream of payments, restart from the checkpoint."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.chain.watching import chain_overrides, units, watching
from tests.fixtures.chain import DevChain
from tests.harness import DaemonProcess, PostbackReceiver, base_config, wait_until, write_config
from tests.pg import query

PAYMENTS = 50


async def _rpc(
    session: aiohttp.ClientSession, url: str, method: str, params: dict[str, Any]
) -> Any:
    async with session.post(
        url + "/", json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
    ) as resp:
        body = await resp.json()
    assert "result" in body, body
    return body["result"]


def _database_rows(db: Path, sql: str) -> list[tuple[Any, ...]]:
    return [tuple(row.values()) for row in query(db, sql)]


@pytest.mark.timeout(120)
async def test_kill_9_during_a_stream_of_payments_loses_and_doubles_nothing(
    tmp_path: Path, chain: DevChain, receiver: PostbackReceiver
) -> None:
    start = await chain.block_number() + 1
    raw = base_config(tmp_path, chain_overrides(chain, start))
    daemon = DaemonProcess(write_config(tmp_path, raw))
    await daemon.start()
    try:
        async with aiohttp.ClientSession() as session:
            created = [
                await _rpc(
                    session,
                    daemon.rpc_url,
                    "start_payment",
                    {"amount": f"1.{i:02d}", "postback_url": receiver.url},
                )
                for i in range(PAYMENTS)
            ]
            for i, p in enumerate(created):
                await chain.pay_tokens(p["address"], units(f"1.{i:02d}"))
                if i == PAYMENTS // 2:
                    await asyncio.sleep(0.3)  # let the watcher get busy
                    daemon.kill9()
                    at_kill = _database_rows(
                        tmp_path / "xbtcpay.db", "SELECT block FROM chain_cursor"
                    )[0][0]
            await chain.mine(3)
            assert start <= at_kill < await chain.block_number() - PAYMENTS // 2  # mid-stream
            await daemon.start()

            async def all_paid() -> bool:
                for p in created:
                    got = await _rpc(session, daemon.rpc_url, "get_payment", {"id": p["id"]})
                    if got["status"] != "paid":
                        return False
                return True

            await wait_until(all_paid, timeout=60, interval=0.3)
        await receiver.wait_for(PAYMENTS, timeout=30)
        await wait_until(
            lambda: {r["json"]["id"] for r in receiver.received} >= {p["id"] for p in created},
            timeout=30,
        )
    finally:
        daemon.terminate()
    db = tmp_path / "xbtcpay.db"
    deposits = _database_rows(db, "SELECT payment_id, units FROM deposits")
    assert len(deposits) == PAYMENTS
    assert sorted(pid for pid, _ in deposits) == sorted(p["id"] for p in created)
    for p in created:  # no deposit counted twice
        paid_events = _database_rows(
            db,
            f"SELECT COUNT(*) FROM payment_events WHERE payment_id = '{p['id']}'"
            " AND event = 'paid'",
        )
        assert paid_events == [(1,)]
        received = _database_rows(
            db, f"SELECT amount_received, overpaid FROM payments WHERE id = '{p['id']}'"
        )
        assert Decimal(received[0][0]) == Decimal(p["amount"]) and received[0][1] == 0
    assert {r["json"]["event"] for r in receiver.received} == {"paid"}


async def test_events_lost_after_a_checkpoint_are_applied_after_restart(
    tmp_path: Path, chain: DevChain
) -> None:
    async with watching(tmp_path, chain, run=False) as w:
        await w.watcher.poll()
        p = await w.pay_request("1")
        await chain.pay_tokens(p["address"], units("1"))
        head = await chain.block_number()
        await w.watcher._advance(head)  # checkpoint, then "crash"
        assert len(await w.deposits(p["id"])) == 1
        assert (await w.payment(p["id"])).status.value == "new"

        fresh = w.d.runtime.chain.watcher(w.d.processor)  # a restarted process
        await fresh.poll()
        assert fresh.cursor == head
        assert (await w.payment(p["id"])).status.value == "seen"
        await chain.mine(2)
        await fresh.poll()
        await fresh.poll()  # repeating changes nothing
        assert (await w.payment(p["id"])).status.value == "paid"
        assert await w.events(p["id"]) == ["created", "seen", "paid"]
        assert len(await w.deposits(p["id"])) == 1

"""An acknowledged start_payment survives kill -9 and power loss; addresses are never reused."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.harness import DaemonProcess, base_config, running_daemon, write_config


async def _start_payment(session: aiohttp.ClientSession, url: str, amount: str) -> dict[str, Any]:
    body = {"jsonrpc": "2.0", "id": 1, "method": "start_payment", "params": {"amount": amount}}
    async with session.post(url + "/", json=body) as resp:
        return dict((await resp.json())["result"])


async def test_kill_9_right_after_start_payment_keeps_the_payment(tmp_path: Path) -> None:
    path = write_config(tmp_path, base_config(tmp_path))
    daemon = DaemonProcess(path)
    await daemon.start()
    try:
        async with aiohttp.ClientSession() as session:
            created = [await _start_payment(session, daemon.rpc_url, str(i + 1)) for i in range(5)]
            daemon.kill9()  # immediately after the last acknowledgement
            await daemon.start()
            for payment in created:
                async with session.get(f"{daemon.public_url}/{payment['id']}/status.json") as r:
                    assert r.status == 200
                    doc = await r.json()
                    assert doc["address"] == payment["address"]
                    assert doc["amount"] == payment["amount"]
            after = await _start_payment(session, daemon.rpc_url, "9")
            assert after["address"] not in {p["address"] for p in created}
    finally:
        daemon.terminate()


async def test_sigterm_stops_gracefully(tmp_path: Path) -> None:
    path = write_config(tmp_path, base_config(tmp_path))
    daemon = DaemonProcess(path)
    await daemon.start()
    assert daemon.terminate() == 0
    assert "Traceback" not in daemon.log_path.read_text()


@pytest.mark.sqlite_only("the SQLite writer's journal_mode and synchronous pragmas")
async def test_sqlite_settings_that_survive_power_loss(tmp_path: Path) -> None:
    """WAL with synchronous=FULL on the writer: a commit is on disk before its answer.

    kill -9 cannot tell these apart (the page cache survives a killed process), power loss
    can: with synchronous=NORMAL a WAL commit is acknowledged before it is fsynced.
    """
    async with running_daemon(tmp_path) as d:
        db = d.runtime.db
        loop = asyncio.get_running_loop()

        def pragma(name: str) -> object:
            writer = db._writer
            assert writer is not None
            return writer.execute(f"PRAGMA {name}").fetchone()[0]

        journal = await loop.run_in_executor(db._writer_thread, pragma, "journal_mode")
        synchronous = await loop.run_in_executor(db._writer_thread, pragma, "synchronous")
        assert (journal, synchronous) == ("wal", 2)  # 2 = FULL
        created = await d.start_payment("1")
    with sqlite3.connect(tmp_path / "xbtcpay.db") as conn:  # WAL is recorded in the file
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        row = conn.execute("SELECT amount FROM payments WHERE id = ?", (created["id"],))
        assert row.fetchone() is not None

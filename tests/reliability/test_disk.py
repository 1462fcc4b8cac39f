"""Disk full and read-only database: clean errors, nothing half-written, recovery afterwards."""

from __future__ import annotations

import asyncio
import os
import subprocess
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.harness import running_daemon
from xbtcpay.core.models import PaymentEvent
from xbtcpay.core.state import Event


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 3 MiB filesystem (tmpfs) that the test can fill up."""
    mount = tmp_path / "disk"
    mount.mkdir()
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mount)],
        check=False,
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({result.stderr.strip()}); needs root")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _fill(mount: Path) -> Path:
    ballast = mount / "ballast"
    with open(ballast, "wb") as f:
        try:
            while True:
                f.write(b"\0" * 65536)
                f.flush()
                os.fsync(f.fileno())
        except OSError:
            pass
    return ballast


async def _counts(d: Any) -> tuple[int, int, int]:
    db = d.runtime.db
    rows = [
        await db.fetchone(f"SELECT COUNT(*) FROM {t}")
        for t in ("payments", "payment_events", "postbacks")
    ]
    return tuple(int(r[0]) for r in rows)  # type: ignore[return-value]


async def test_disk_full_fails_cleanly_and_recovers(small_disk: Path) -> None:
    async with running_daemon(small_disk, {"database": f"sqlite:///{small_disk}/x.db"}) as d:
        ok = await d.start_payment("1", postback_url="http://127.0.0.1:1/pb")
        ballast = _fill(small_disk)
        before = await _counts(d)
        accepted, failed_in_a_row = 0, 0
        for i in range(60):  # until what the WAL had preallocated is used up for good
            reply = await d.call("start_payment", {"amount": str(i + 2), "data": "x" * 4000})
            if "error" not in reply:
                accepted, failed_in_a_row = accepted + 1, 0
                continue
            assert reply["error"] == {
                "code": -32011,
                "message": "Storage unavailable: database or disk is full",
            }
            failed_in_a_row += 1
            if failed_in_a_row == 3:
                break
        assert failed_in_a_row == 3, "the full disk never refused a write"
        status, doc = await d.status(ok["id"])  # reads keep working
        assert status == 200 and doc["status"] == "new"
        events = await d.runtime.payments.events(ok["id"])
        result = await d.call("cancel_payment", {"id": ok["id"]})
        assert result["error"] == {
            "code": -32011,
            "message": "Storage unavailable: database or disk is full",
        }
        assert (await d.status(ok["id"]))[1]["status"] == "new"  # the refused cancel left no trace
        assert await d.runtime.payments.events(ok["id"]) == events
        after_failures = await _counts(d)
        assert after_failures[0] - before[0] == accepted  # nothing half-written
        ballast.unlink()
        canceled = await d.call("cancel_payment", {"id": ok["id"]})
        assert canceled["result"]["status"] == "canceled"
        again = await d.start_payment("7")
        paid = await d.processor.apply(
            again["id"],
            PaymentEvent(
                Event.PAID, amount_received=Decimal(7), tx_hash="0x" + "aa" * 32, tx_block=1
            ),
        )
        assert paid.changed and (await d.status(again["id"]))[1]["status"] == "paid"


@pytest.mark.sqlite_only("flips the SQLite writer connection to query_only")
async def test_read_only_database_fails_cleanly_and_recovers(tmp_path: Path) -> None:
    async with running_daemon(tmp_path) as d:
        first = await d.start_payment("1")

        db = d.runtime.db

        async def set_query_only(on: bool) -> None:
            # flips the writer connection to read-only, as a remounted read-only disk would
            pragma = f"PRAGMA query_only={'ON' if on else 'OFF'}"
            await asyncio.get_running_loop().run_in_executor(
                db._writer_thread, db._writer.execute, pragma
            )

        await set_query_only(True)
        before = await _counts(d)
        reply = await d.call("start_payment", {"amount": "2"})
        assert reply["error"]["code"] == -32011
        assert reply["error"]["message"] == "Storage unavailable: database is read-only"
        assert await _counts(d) == before
        assert (await d.status(first["id"]))[0] == 200
        await set_query_only(False)
        assert (await d.start_payment("3"))["status"] == "new"

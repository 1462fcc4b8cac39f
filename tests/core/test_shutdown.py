"""Regression: a background loop must stop when cancelled at the moment it is woken.

On Python 3.11 ``asyncio.wait_for`` could swallow a cancellation that raced with the awaited
event, so the postback worker kept looping and the daemon's stop() hung.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
import pytest

from xbtcpay.core.postback import PostbackSender
from xbtcpay.core.secrets import Secret
from xbtcpay.core.settings import PostbackConfig
from xbtcpay.storage.database import Database
from xbtcpay.storage.postbacks import PostbackStore


@pytest.mark.parametrize("round_", range(20))
async def test_postback_worker_stops_when_cancelled_as_it_wakes(
    tmp_path: Path, round_: int
) -> None:
    db = Database(str(tmp_path / "x.db"))
    await db.open()
    await db.migrate()
    async with aiohttp.ClientSession() as session:
        sender = PostbackSender(PostbackConfig(secret=Secret("s")), PostbackStore(db), session)
        task = asyncio.create_task(sender.run())
        for _ in range(3 + round_ % 5):
            await asyncio.sleep(0)  # let it reach its sleep
        await asyncio.sleep(0.02)
        sender.notify()
        task.cancel()
        done, _ = await asyncio.wait({task}, timeout=3)
        assert task in done, "the worker ignored its cancellation"
        assert task.cancelled()
    await db.close()

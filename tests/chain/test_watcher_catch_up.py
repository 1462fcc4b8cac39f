"""A long catch-up through a node that keeps failing part way still pays as it goes.

The watcher commits each scanned range. When a later range of the same poll fails, the
payments funded in the committed ranges are settled at once (confirmations counted from the
committed cursor), and the next poll starts soon instead of backing off as if the node were
down: a poll that moved the cursor is progress, not an outage.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from structlog.testing import capture_logs

from tests.chain.node_proxy import NodeProxy
from tests.chain.watching import units, watching
from tests.fixtures.chain import DevChain
from xbtcpay.core.errors import ChainError

RANGE = {"max_block_range": 2}  # confirmations 3: two ranges of 2 blocks confirm the first


async def test_a_poll_failing_part_way_settles_the_committed_ranges(
    tmp_path: Path, chain: DevChain
) -> None:
    async with NodeProxy(chain.url) as proxy:
        extra = {"chain": {"rpc_urls": [proxy.url], **RANGE}}
        async with watching(tmp_path, chain, extra, run=False) as w:
            await w.watcher.poll()  # first start: at the head
            p = await w.pay_request("1")
            await chain.pay_tokens(p["address"], units("1"))  # the next block
            await chain.mine(10)
            ok = proxy.calls["eth_getLogs"] + 2  # two ranges scan, every later one fails
            proxy.failing_logs = lambda n: n > ok
            with pytest.raises(ChainError):
                await w.watcher.poll()
            assert w.watcher.cursor is not None
            assert w.watcher.cursor == await w.chain.block_number() - 10 + 3
            assert (await w.payment(p["id"])).status.value == "paid"


async def test_a_catch_up_that_keeps_moving_does_not_back_off(
    tmp_path: Path, chain: DevChain
) -> None:
    async with NodeProxy(chain.url) as proxy:
        extra = {"chain": {"rpc_urls": [proxy.url], **RANGE}}
        start = await chain.block_number() + 1
        p = None
        async with watching(tmp_path, chain, extra, run=False, start=start) as w:
            p = await w.pay_request("1")
        await chain.pay_tokens(p["address"], units("1"))
        await chain.mine(36)  # 18 ranges behind
        # every poll: two ranges scan, then one range fails all of its three attempts
        proxy.failing_logs = lambda n: (n - 1) % 5 >= 2
        with capture_logs() as logs:
            async with watching(tmp_path, chain, extra, start=start) as w:
                await w.until(p["id"], "paid", timeout=30)
                await w.synced(timeout=60)
        failed = [e["failures"] for e in logs if e["event"] == "chain.poll_failed"]
        assert len(failed) >= 5
        assert set(failed) == {1}  # before: 1, 2, 3 ... up to the 30 s cap

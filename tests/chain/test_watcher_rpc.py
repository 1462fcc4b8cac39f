"""Watcher acceptance 5-6: RPC calls per block, node outages, failover, ranges, new heads."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections import Counter
from pathlib import Path
from typing import Any

from tests.chain.node_proxy import NodeProxy
from tests.chain.watching import Watch, units, watching
from tests.fixtures.chain import DevChain
from xbtcpay.chain.anvil import free_port
from xbtcpay.core.persistence import UnitOfWork


async def _add_open_payments(w: Watch, count: int) -> None:
    """``count`` open crypto payments with distinct addresses, inserted in one transaction."""
    now = int(time.time())
    rows = [(secrets.token_urlsafe(16), "0x" + secrets.token_hex(20), now) for _ in range(count)]

    first = 1_000_000 + secrets.randbelow(1_000_000) * 1000

    async def work(uow: UnitOfWork) -> None:
        await uow.executemany(
            "INSERT INTO payments (id, method, asset, amount, address, derivation_index, status,"
            " created_at, expires_at, updated_at)"
            " VALUES (?, 'crypto', '0xbtc', '1', ?, ?, 'new', ?, NULL, ?)",
            [(pid, addr, first + n, at, at) for n, (pid, addr, at) in enumerate(rows)],
        )

    await w.d.runtime.db.transact(work)


async def _calls_for_one_block(w: Watch, pay_to: str) -> Counter[str]:
    """Mine one block holding a payment, poll once, return the calls that poll made."""
    before = Counter(w.watcher.client.calls)
    await w.chain.pay_tokens(pay_to, units("1"))
    await w.watcher.poll()
    return Counter(w.watcher.client.calls) - before


async def test_calls_per_block_do_not_grow_with_open_payments(
    tmp_path: Path, chain: DevChain
) -> None:
    async with watching(tmp_path, chain, run=False) as w:
        await w.watcher.poll()  # first start, first reconcile
        few = [await w.pay_request("1") for _ in range(10)]
        with_10 = await _calls_for_one_block(w, few[0]["address"])
        await _add_open_payments(w, 9_990)
        late = await w.pay_request("1")  # the 10,001st address
        with_10k = await _calls_for_one_block(w, late["address"])
        assert len(w.watcher.book) == 10_001
        assert with_10k == with_10
        assert sum(with_10.values()) == 3  # head, header batch, one getLogs
        assert with_10["eth_getLogs"] == 1
        for p in (few[0], late):  # both matched among the addresses
            assert (await w.payment(p["id"])).status.value == "seen"


async def test_node_going_away_and_coming_back_misses_nothing(
    tmp_path: Path, chain: DevChain
) -> None:
    async with (
        NodeProxy(chain.url) as proxy,
        watching(tmp_path, chain, {"chain": {"rpc_urls": [proxy.url]}}) as w,
    ):
        early = await w.pay_request("1")
        during = await w.pay_request("2")
        await chain.pay_tokens(early["address"], units("1"))
        await w.until(early["id"], "seen")
        await proxy.stop()  # node gone
        await chain.pay_tokens(during["address"], units("2"))
        await chain.mine(3)
        await asyncio.sleep(1.0)
        assert (await w.payment(during["id"])).status.value == "new"
        await proxy.start()  # node back
        await w.until(early["id"], "paid", timeout=30)
        paid = await w.until(during["id"], "paid", timeout=30)
        assert paid.amount_received == 2
        assert len(await w.deposits()) == 2


async def test_one_dead_rpc_url_of_two_does_not_stop_payments(
    tmp_path: Path, chain: DevChain
) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    async with watching(tmp_path, chain, {"chain": {"rpc_urls": [dead, chain.url]}}) as w:
        p = await w.pay_request("1")
        await chain.pay_tokens(p["address"], units("1"))
        await chain.mine(2)
        paid = await w.until(p["id"], "paid")
        assert paid.amount_received == 1
        assert w.watcher.client.url == chain.url


async def test_catch_up_in_large_ranges_and_shrink_when_the_node_refuses(
    tmp_path: Path, chain: DevChain
) -> None:
    start = await chain.block_number() + 1
    async with NodeProxy(chain.url, max_log_range=16) as proxy:
        extra = {"chain": {"rpc_urls": [proxy.url], "max_block_range": 256}}
        async with watching(tmp_path, chain, extra, run=False, start=start) as w:
            payments = [await w.pay_request("1") for _ in range(3)]
            for p in payments:  # spread over ~100 blocks
                await chain.pay_tokens(p["address"], units("1"))
                await chain.mine(30)
            await w.watcher.poll()
            assert proxy.refused_ranges > 0 and w.watcher.range <= 256
            assert w.watcher.cursor == await chain.block_number()
            for p in payments:
                assert (await w.payment(p["id"])).status.value == "paid"
            assert len(await w.deposits()) == 3


async def test_catch_up_without_limits_uses_one_log_query(tmp_path: Path, chain: DevChain) -> None:
    start = await chain.block_number() + 1
    async with watching(tmp_path, chain, run=False, start=start) as w:
        p = await w.pay_request("1")
        await chain.pay_tokens(p["address"], units("1"))
        await chain.mine(150)
        await w.watcher.poll()
        assert w.watcher.client.calls["eth_getLogs"] == 1
        assert (await w.payment(p["id"])).status.value == "paid"


async def test_catch_up_walks_headers_only_inside_the_reorg_window(
    tmp_path: Path, chain: DevChain
) -> None:
    start = await chain.block_number() + 1
    async with watching(
        tmp_path, chain, {"chain": {"reorg_window": 8}}, run=False, start=start
    ) as w:
        p = await w.pay_request("1")
        await chain.pay_tokens(p["address"], units("1"))  # far below the window
        await chain.mine(150)
        asked: list[int] = []
        fetch = w.watcher.client.get_blocks

        async def recording(numbers: list[int], full: bool = False) -> list[dict[str, Any]]:
            asked.extend(numbers)
            return await fetch(numbers, full=full)

        w.watcher.client.get_blocks = recording  # type: ignore[method-assign]
        await w.watcher.poll()
        head = await chain.block_number()
        assert sorted(asked) == list(range(head - 8, head + 1))  # the window and its anchor
        assert w.watcher.client.calls["eth_getLogs"] == 1
        assert (await w.payment(p["id"])).status.value == "paid"


async def test_new_heads_on_a_websocket_wake_the_watcher(tmp_path: Path, chain: DevChain) -> None:
    extra = {"chain": {"rpc_urls": [chain.url, chain.ws_url], "poll_interval": 10}}
    async with watching(tmp_path, chain, extra) as w:
        p = await w.pay_request("1")
        await asyncio.sleep(0.5)  # first poll done, long sleep begun
        started = time.monotonic()
        await chain.pay_tokens(p["address"], units("1"))
        await w.until(p["id"], "seen", timeout=5)
        assert time.monotonic() - started < 5  # far sooner than poll_interval

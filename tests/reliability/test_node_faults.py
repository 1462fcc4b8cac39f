"""Scenario 3: the Ethereum node fails under the watcher, and payments still complete.

A private anvil (``--state`` file, so a restart keeps its chain) sits behind a
``FaultyProxy`` that breaks a seeded share of the requests (timeouts, 429s, 500s, truncated
and malformed JSON, answers to other ids, connection resets). The proxy also goes away for
a while (connection refused) while payments land, so the watcher comes back to a long
catch-up in small ranges; in the middle of that scan, right when the watcher asks for the
logs of a range, the node process itself is stopped and restarted, three times. A second
batch of payments is paid while the watcher follows the head through the same faults.
At the end every invariant holds against the node itself (not through the proxy).
"""

from __future__ import annotations

import asyncio
import random
from pathlib import Path
from typing import Any

import pytest

from tests.harness import PostbackReceiver, running_daemon, wait_until
from tests.reliability import invariants
from tests.reliability.faulty_proxy import FaultyProxy
from tests.reliability.scenario import quiet_logs, report, seed, stable_port
from xbtcpay.chain import devchain
from xbtcpay.chain.anvil import Anvil
from xbtcpay.chain.client import ChainClient

CONFIRMATIONS = 3
FAULT_RATE = 0.25
MIN_FAULTS = 40
NODE_RESTARTS = 3
CATCH_UP_PAYMENTS = 30
LIVE_PAYMENTS = 15


class RestartableNode:
    """An anvil that keeps its chain across restarts (``--state``) on a fixed port.

    anvil writes its state file on SIGTERM without pausing block production: a block mined
    while it writes can land in the account state but not in the block history, so after the
    restart a balance exists without its Transfer log (the chain itself became inconsistent,
    which no watcher can be asked to notice). The test's own writes to the chain (payments
    and mined blocks) therefore hold ``busy``, and a stop waits for them to finish; the
    daemon only reads, so its requests still meet the stop at any point.
    """

    def __init__(self, state: Path) -> None:
        self.port = stable_port()
        self.state = state
        self.node: Anvil | None = None
        self.up = asyncio.Event()
        self.busy = asyncio.Lock()
        self.restarts = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        self.node = Anvil(port=self.port, args=["--state", str(self.state)])
        await asyncio.to_thread(self.node.start)
        self.up.set()

    async def stop(self) -> None:
        async with self.busy:
            self.up.clear()
            if self.node is not None:
                await asyncio.to_thread(self.node.stop)  # SIGTERM: anvil writes its state
                self.node = None

    async def mine(self, client: ChainClient, blocks: int) -> None:
        """Mine ``blocks`` blocks once the node is up, never while it is being stopped."""
        while True:
            await self.up.wait()
            async with self.busy:
                if self.up.is_set():
                    await devchain.mine(client, blocks)
                    return

    async def come_back(self, after: float) -> None:
        await asyncio.sleep(after)
        await self.start()
        self.restarts += 1


async def _pay(client: ChainClient, node: RestartableNode, token: str, to: str, units: int) -> None:
    """Transfer tokens once the node is up (the test's own wallet talks to it directly)."""
    while True:
        await node.up.wait()
        async with node.busy:
            if node.up.is_set():
                tx = await devchain.send_tokens(client, token, to, units, devchain.dev_key(0))
                await devchain.wait_receipt(client, tx)
                return
        await asyncio.sleep(0.2)  # the node went down before the tx was sent


@pytest.mark.timeout(120)
async def test_payments_complete_through_node_faults_and_restarts(tmp_path: Path) -> None:
    rng = random.Random(seed("node_faults"))
    node = RestartableNode(tmp_path / "anvil-state.json")
    await node.start()
    restarts: list[asyncio.Task[None]] = []
    try:
        async with (
            ChainClient([node.url], timeout=10, max_attempts=20) as client,
            FaultyProxy(node.url, seed=rng.randrange(2**32), hang=1.0, port=stable_port()) as proxy,
            PostbackReceiver() as shop,
        ):
            token = await devchain.deploy(
                client, "TestZeroXBitcoin", devchain.dev_key(0), [devchain.TOKEN_SUPPLY]
            )
            start = await client.block_number() + 1

            def kill_mid_scan() -> None:
                async def trigger() -> None:
                    await node.stop()  # before the logs are fetched
                    task = asyncio.create_task(node.come_back(rng.uniform(0.5, 1.5)))
                    restarts.append(task)
                    task.add_done_callback(lambda _: rearm())

                proxy.on_method("eth_getLogs", trigger)

            def rearm() -> None:
                if len(restarts) < NODE_RESTARTS:
                    kill_mid_scan()

            overrides = {
                "chain": {
                    "rpc_urls": [proxy.url],
                    "poll_interval": 0.05,
                    "confirmations": CONFIRMATIONS,
                    "start_block": start,
                    "request_timeout": 0.5,
                    "max_block_range": 4,
                    "reconcile_interval": 2,
                },
                "assets": {"0xbtc": {"contract": token, "decimals": 8, "max_amount": "20999984"}},
            }
            acknowledged: dict[str, Any] = {}
            with quiet_logs():
                async with running_daemon(tmp_path, overrides, watcher=True) as d:

                    async def new_payment() -> dict[str, Any]:
                        amount = f"{rng.randint(1, 500)}.{rng.randint(0, 99_999_999):08d}"
                        p = await d.start_payment(amount, postback_url=shop.url)
                        acknowledged[p["id"]] = p
                        return p

                    async def pay(p: dict[str, Any]) -> None:
                        units = invariants._units(p["amount"], 8)
                        await _pay(client, node, token, p["address"], units)

                    await wait_until(lambda: d.runtime.head.number is not None, 15)
                    await proxy.stop()  # the node is unreachable meanwhile
                    for _ in range(CATCH_UP_PAYMENTS):
                        await pay(await new_payment())
                        await node.mine(client, rng.randint(1, 8))
                    proxy.rate = FAULT_RATE
                    kill_mid_scan()
                    await proxy.start()  # a long catch-up, through faults
                    live = 0  # and payments at the head
                    while live < LIVE_PAYMENTS or sum(proxy.injected.values()) < MIN_FAULTS:
                        await asyncio.sleep(rng.uniform(0, 0.3))
                        if live < LIVE_PAYMENTS:
                            await pay(await new_payment())
                            live += 1
                        else:
                            await node.mine(client, 1)
                    await wait_until(
                        lambda: len(restarts) >= NODE_RESTARTS and all(t.done() for t in restarts),
                        60,
                    )
                    await node.mine(client, CONFIRMATIONS)
                    final = await invariants.eventually(
                        tmp_path / "xbtcpay.db",
                        acknowledged,
                        lambda: shop.received,
                        invariants.Node(node.url, token, start, CONFIRMATIONS),
                        timeout=60,
                    )
                    calls = dict(proxy.methods)
    finally:
        for task in restarts:
            task.cancel()
        await asyncio.gather(*restarts, return_exceptions=True)
        await node.stop()
    counts = {
        **final.counts,
        "injected_faults": sum(proxy.injected.values()),
        "by_fault": dict(proxy.injected),
        "node_restarts": node.restarts,
        "gateway_502_while_node_down": proxy.upstream_down,
        "proxy_outages": 1,
        "requests_seen_by_proxy": sum(calls.values()),
        "violations": len(final.violations),
    }
    report("node_faults", counts)
    final.assert_ok()
    assert final.counts["paid"] == CATCH_UP_PAYMENTS + LIVE_PAYMENTS
    assert node.restarts == NODE_RESTARTS and proxy.upstream_down > 0
    assert set(proxy.injected) == set(proxy.faults), proxy.injected

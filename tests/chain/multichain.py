"""Several dev chains for tests: anvils with their own chain ids and block times, the test
token (first, so at the same address everywhere) and the test stablecoins; a daemon over them."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from tests.fixtures.chain import DevChain
from tests.harness import DaemonHandle, write_config
from xbtcpay.app.config import parse_config
from xbtcpay.app.daemon import Daemon
from xbtcpay.chain import devchain
from xbtcpay.chain.anvil import Anvil
from xbtcpay.chain.client import ChainClient
from xbtcpay.core.models import Payment

STABLECOINS = ("TestUSDC", "TestUSDT")  # 6 decimals; TestUSDT's transfer returns nothing


@dataclass
class Node(DevChain):
    """A dev chain with the test stablecoins deployed too (contract name -> address)."""

    stablecoins: dict[str, str] = field(default_factory=dict)

    async def pay_stablecoin(self, name: str, to: str, units: int) -> str:
        tx = await devchain.send_tokens(self.client, self.stablecoins[name], to, units, self.payer)
        await devchain.wait_receipt(self.client, tx)
        return tx


@asynccontextmanager
async def dev_chain(
    chain_id: int, block_time: float | None, args: tuple[str, ...] = ()
) -> AsyncIterator[Node]:
    """An anvil of its own with the test contracts (the fixtures' ``own_chain``, with a
    chain id and a block time); the token first, so its address is the same on every chain."""
    node = await asyncio.to_thread(Anvil(chain_id=chain_id, block_time=block_time, args=args).start)
    try:
        async with ChainClient([node.url], timeout=10) as client:
            key = devchain.dev_key(0)
            token = await devchain.deploy(client, "TestZeroXBitcoin", key, [devchain.TOKEN_SUPPLY])
            forwarder = await devchain.deploy(client, "EthForwarder", key, [])
            coins = {
                name: await devchain.deploy(client, name, key, [10**18]) for name in STABLECOINS
            }
            yield Node(
                anvil=node, client=client, token=token, forwarder=forwarder, stablecoins=coins
            )
    finally:
        await asyncio.to_thread(node.stop)


async def start_daemon(
    stack: AsyncExitStack,
    tmp_path: Path,
    raw: dict[str, Any],
    clock: Callable[[], float] = time.time,
) -> DaemonHandle:
    """A daemon with its watchers on, for ``raw`` (stopped by ``stack``)."""
    config = parse_config(raw, write_config(tmp_path, raw))
    daemon = Daemon(config, watcher=True, expiry_interval=0.2, clock=clock)
    await daemon.start()
    stack.push_async_callback(daemon.stop)
    session = await stack.enter_async_context(aiohttp.ClientSession())
    return DaemonHandle(
        daemon,
        config,
        session,
        f"http://127.0.0.1:{daemon.rpc_port}",
        f"http://127.0.0.1:{daemon.public_port}",
    )


async def has_status(d: DaemonHandle, payment_id: str, status: str) -> bool:
    payment: Payment = await d.processor.get(payment_id)
    return payment.status.value == status

"""A private anvil with the test 0xBitcoin deployed, and fast bulk token transfers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass

from xbtcpay.chain import devchain
from xbtcpay.chain.anvil import Anvil, AnvilNotFound, find_anvil
from xbtcpay.chain.client import ChainClient

TRANSFER_GAS = 80_000


def anvil_available() -> bool:
    """Whether an anvil binary can be found (``npm install`` at the repository root)."""
    try:
        find_anvil()
    except AnvilNotFound:
        return False
    return True


@dataclass
class BenchChain:
    """A running anvil, a client on it and the deployed token."""

    anvil: Anvil
    client: ChainClient
    token: str

    @property
    def url(self) -> str:
        return self.anvil.url

    @property
    def payer(self) -> str:
        return devchain.dev_key(0).address

    async def nonce(self) -> int:
        return int(await self.client.call("eth_getTransactionCount", [self.payer, "pending"]), 16)

    async def queue_transfers(self, transfers: Sequence[tuple[str, int]], nonce: int) -> int:
        """Put token transfers in the pool (anvil's unlocked dev account, one batch request).

        Nonces are explicit so the batch is order-independent; returns the next nonce.
        """
        calls = []
        for n, (to, units) in enumerate(transfers):
            data = devchain.calldata("transfer(address,uint256)", ["address", "uint256"],
                                     [to, units])
            calls.append(("eth_sendTransaction", [{"from": self.payer, "to": self.token,
                                                   "data": data, "gas": hex(TRANSFER_GAS),
                                                   "nonce": hex(nonce + n)}]))
        await self.client.batch(calls)
        return nonce + len(transfers)

    async def mine(self, blocks: int = 1) -> None:
        await devchain.mine(self.client, blocks)


@asynccontextmanager
async def dev_chain(*, args: Sequence[str] = ()) -> AsyncIterator[BenchChain]:
    """An anvil of its own with TestZeroXBitcoin deployed by dev account 0, automine off."""
    async with Anvil(args=list(args)) as node:
        async with ChainClient([node.url], timeout=60) as client:
            token = await devchain.deploy(client, "TestZeroXBitcoin", devchain.dev_key(0),
                                          [devchain.TOKEN_SUPPLY])
            await devchain.set_automine(client, False)  # blocks only when a benchmark mines
            yield BenchChain(node, client, token)

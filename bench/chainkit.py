"""A private anvil with the test 0xBitcoin deployed, and fast bulk token transfers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from xbtcpay.chain import devchain
from xbtcpay.chain.anvil import Anvil, AnvilNotFound, find_anvil
from xbtcpay.chain.client import ChainClient

TRANSFER_GAS = 80_000
MAX_FEE = 50 * 10**9
TIP = 10**9


def _sign_transfers(args: tuple[str, int, int, list[tuple[str, int]]]) -> list[str]:
    token, chain_id, nonce, transfers = args
    key = devchain.dev_key(0)
    raws = []
    for n, (to, units) in enumerate(transfers):
        data = devchain.calldata("transfer(address,uint256)", ["address", "uint256"], [to, units])
        tx: dict[str, Any] = {
            "to": token,
            "data": data,
            "gas": TRANSFER_GAS,
            "nonce": nonce + n,
            "chainId": chain_id,
            "maxFeePerGas": MAX_FEE,
            "maxPriorityFeePerGas": TIP,
            "value": 0,
            "type": 2,
        }
        raws.append("0x" + key.sign_transaction(tx).raw_transaction.hex())
    return raws


def sign_transfers(
    token: str, chain_id: int, nonce: int, transfers: Sequence[tuple[str, int]], workers: int = 2
) -> list[str]:
    """Signed raw token transfers from dev account 0, nonces from ``nonce`` on (parallel)."""
    items = list(transfers)
    if workers <= 1 or len(items) < 1000:
        return _sign_transfers((token, chain_id, nonce, items))
    step = -(-len(items) // workers)
    jobs = [(token, chain_id, nonce + s, items[s : s + step]) for s in range(0, len(items), step)]
    with ProcessPoolExecutor(workers) as pool:
        return [raw for part in pool.map(_sign_transfers, jobs) for raw in part]


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
            data = devchain.calldata(
                "transfer(address,uint256)", ["address", "uint256"], [to, units]
            )
            calls.append(
                (
                    "eth_sendTransaction",
                    [
                        {
                            "from": self.payer,
                            "to": self.token,
                            "data": data,
                            "gas": hex(TRANSFER_GAS),
                            "nonce": hex(nonce + n),
                        }
                    ],
                )
            )
        await self.client.batch(calls)
        return nonce + len(transfers)

    async def send_raw(self, raws: Sequence[str]) -> None:
        """Broadcast signed transactions in one batch request."""
        if raws:
            await self.client.batch([("eth_sendRawTransaction", [raw]) for raw in raws])

    async def mine(self, blocks: int = 1) -> None:
        await devchain.mine(self.client, blocks)


@asynccontextmanager
async def dev_chain(*, args: Sequence[str] = ()) -> AsyncIterator[BenchChain]:
    """An anvil of its own with TestZeroXBitcoin deployed by dev account 0, automine off."""
    async with Anvil(args=list(args)) as node, ChainClient([node.url], timeout=60) as client:
        token = await devchain.deploy(
            client, "TestZeroXBitcoin", devchain.dev_key(0), [devchain.TOKEN_SUPPLY]
        )
        await devchain.set_automine(client, False)  # blocks only when a benchmark mines
        yield BenchChain(node, client, token)

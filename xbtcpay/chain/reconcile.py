"""Balance reconciliation: credits that neither Transfer logs nor ``tx.to`` show.

0xBitcoin mining rewards emit ``Mint`` and no ``Transfer``; ETH sent from inside a contract
call is invisible in ``tx.to``. Every ``chain.reconcile_interval`` seconds the watcher reads
the balances of the open payments' addresses at a confirmed block it has already scanned
(one batch request per asset, pinned to that block's hash per EIP-1898) and records the part
of each balance that its deposits do not explain as a ``balance`` deposit at that block.

Never double counted: the surplus is the balance minus every deposit already recorded up to
that block (logs, transactions and earlier surpluses), and the block is at or below the
cursor, so no log of that range can arrive later. A reorg that orphans the block deletes the
surplus with the other deposits of the block.
"""

from __future__ import annotations

from collections.abc import Sequence

from xbtcpay.chain.client import BALANCE_OF, ChainClient
from xbtcpay.chain.deposits import Deposit, balance_deposit
from xbtcpay.core.settings import AssetConfig

BATCH_SIZE = 1000


async def balances_at(
    client: ChainClient, asset: AssetConfig, addresses: Sequence[str], block_hash: str
) -> dict[str, int]:
    """Balances (base units) of ``addresses`` at the block ``block_hash``, batched."""
    at = {"blockHash": block_hash, "requireCanonical": True}
    out: dict[str, int] = {}
    for start in range(0, len(addresses), BATCH_SIZE):
        chunk = list(addresses[start : start + BATCH_SIZE])
        if asset.native:
            calls = [("eth_getBalance", [a, at]) for a in chunk]
        else:
            assert asset.contract is not None
            calls = [
                (
                    "eth_call",
                    [{"to": asset.contract, "data": BALANCE_OF + a[2:].lower().rjust(64, "0")}, at],
                )
                for a in chunk
            ]
        for address, result in zip(chunk, await client.batch(calls), strict=True):
            out[address] = int(result, 16) if isinstance(result, str) and len(result) > 2 else 0
    return out


def surpluses(
    asset: str,
    watched: Sequence[tuple[str, str]],
    balances: dict[str, int],
    recorded: dict[str, int],
    block_number: int,
    block_hash: str,
) -> list[Deposit]:
    """One ``balance`` deposit per payment whose balance exceeds what its deposits explain.

    A balance below the recorded total (funds moved out) is left alone.
    """
    found = []
    for payment_id, address in watched:
        extra = balances.get(address, 0) - recorded.get(payment_id, 0)
        if extra > 0:
            found.append(
                balance_deposit(payment_id, asset, address, extra, block_number, block_hash)
            )
    return found

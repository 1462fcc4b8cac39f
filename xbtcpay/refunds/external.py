"""Recognising an external payout: the transfer the merchant sent from ``payouts.from`` to
the refund's address, of exactly the refund's amount, after the refund was approved.

Tokens are matched on their Transfer logs (so a contract wallet such as a multisig is seen
too); ETH on the transactions of each block (``from`` must then be the sending account
itself: a contract wallet's internal ETH transfer is not seen). One transaction pays one
refund. At most ``MAX_BLOCKS`` blocks are read per refund and round.
"""

from __future__ import annotations

from dataclasses import dataclass

from xbtcpay.chain.client import ChainClient
from xbtcpay.chain.deposits import TRANSFER_TOPIC
from xbtcpay.core.settings import AssetConfig
from xbtcpay.storage.refunds import Refund

MAX_BLOCKS = 2_000


@dataclass(frozen=True)
class Found:
    tx_hashes: tuple[str, ...]  # matching transfers, oldest first
    next_block: int  # where the next round starts


def _topic(address: str) -> str:
    return "0x" + address.lower()[2:].rjust(64, "0")


async def find_payout(
    client: ChainClient, refund: Refund, spec: AssetConfig, sender: str, head: int
) -> Found:
    """Transfers that match ``refund`` in blocks ``[refund.watch_from, head]`` (capped)."""
    assert refund.address is not None and refund.watch_from is not None
    start = refund.watch_from
    end = min(head, start + MAX_BLOCKS - 1)
    if end < start:
        return Found((), start)
    to = refund.address.lower()
    if spec.native or spec.contract is None:
        blocks = await client.get_blocks(list(range(start, end + 1)), full=True)
        hashes = [
            str(tx["hash"]).lower()
            for block in blocks
            for tx in block.get("transactions") or []
            if str(tx.get("from", "")).lower() == sender
            and str(tx.get("to") or "").lower() == to
            and int(str(tx.get("value", "0x0")), 16) == refund.units
        ]
        return Found(tuple(hashes), end + 1)
    logs = await client.get_logs(
        start, end, [spec.contract], [TRANSFER_TOPIC, _topic(sender), _topic(to)]
    )
    hashes = [
        str(entry["transactionHash"]).lower()
        for entry in logs
        if not entry.get("removed") and int(str(entry.get("data", "0x0")), 16) == refund.units
    ]
    return Found(tuple(hashes), end + 1)

"""What a confirmed sweep really moved, read back from the chain."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from xbtcpay.chain.client import ChainClient
from xbtcpay.chain.deposits import TRANSFER_TOPIC, topic_address
from xbtcpay.sweep.settings import SweepInputs


def confirmations_needed(config: SweepInputs) -> int:
    """``sweep.confirmations``, else the chain's (64 blocks when that is "finalized")."""
    own = config.sweep.confirmations if config.sweep is not None else None
    chain = config.chain.confirmations
    return own or (chain if isinstance(chain, int) else 64)


async def moved_units(
    client: ChainClient,
    token: str | None,
    treasury: str,
    addresses: Sequence[str],
    receipt: dict[str, Any],
) -> dict[str, int]:
    """Units each address sent the treasury in the transaction of ``receipt``.

    Tokens: its Transfer logs from the address to the treasury. ETH (``token`` None): the
    address's balance at the block before minus at the block (a sweep leaves it at zero).
    """
    ours = sorted({a.lower() for a in addresses})
    number = int(receipt["blockNumber"], 16)
    if token is None:
        before = await client.eth_balances(ours, number - 1)
        after = await client.eth_balances(ours, number)
        return {a: before[a] - after[a] for a in ours if before[a] > after[a]}
    moved: dict[str, int] = {}
    for entry in receipt.get("logs") or []:
        topics = entry.get("topics") or []
        if (
            str(entry.get("address", "")).lower() != token.lower()
            or len(topics) != 3
            or topics[0].lower() != TRANSFER_TOPIC
            or topic_address(topics[2]) != treasury.lower()
        ):
            continue
        source = topic_address(topics[1])
        if source in ours:
            moved[source] = moved.get(source, 0) + int(entry.get("data") or "0x0", 16)
    return moved

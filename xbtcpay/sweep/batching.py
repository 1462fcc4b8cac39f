"""Batches sized to the gas limit: as few transactions as the limit allows."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

T = TypeVar("T")
TX_GAS_CAP = 16_777_216  # EIP-7825: no transaction may ask for more gas than 2**24
HEADROOM = 1.15  # gas limit = estimate * HEADROOM (estimates are not exact)


def gas_cap(block_gas_limit: int) -> int:
    """The most gas one sweep transaction may ask for."""
    return min(block_gas_limit, TX_GAS_CAP)


def with_headroom(estimate: int) -> int:
    return int(estimate * HEADROOM) + 10_000


async def pack(
    items: Sequence[T], estimate: Callable[[Sequence[T]], Awaitable[int]], cap: int
) -> list[tuple[list[T], int]]:
    """Split ``items`` into the fewest chunks whose gas limit fits ``cap``.

    Returns (chunk, gas limit) pairs. A chunk over the cap is split into as many equal parts
    as its estimate needs, and each part is estimated again.
    """
    if not items:
        return []
    gas = with_headroom(await estimate(items))
    if gas <= cap:
        return [(list(items), gas)]
    if len(items) == 1:
        raise ValueError(f"one address needs {gas} gas, more than the cap {cap}")
    parts = max(2, -(-gas // cap))
    size = -(-len(items) // parts)
    out: list[tuple[list[T], int]] = []
    for start in range(0, len(items), size):
        out += await pack(items[start : start + size], estimate, cap)
    return out

"""Reorg detection: the parent-hash chain of recent blocks, and each log's block hash.

Pure functions, no I/O. A new range of headers must chain onto the stored tip
(``ReorgDetected`` otherwise: walk back to the common ancestor) and onto itself, and every
log must name the hash of the header fetched for its block (``ChainMoved`` otherwise: the
node switched branches between two calls, ask again).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from xbtcpay.core.deposits import Header
from xbtcpay.core.errors import ChainError

__all__ = ["ChainMoved", "Header", "ReorgDetected"]


class ReorgDetected(ChainError):
    """The stored tip is no longer on the node's chain."""


class ChainMoved(ChainError):
    """The node's answers do not agree with each other (it reorged between calls): retry."""


def check_range(tip: Header | None, headers: Sequence[Header]) -> None:
    """Raise unless ``headers`` are consecutive, chain onto ``tip`` and onto each other."""
    previous = tip
    for header in headers:
        if previous is not None:
            if header.number != previous.number + 1:
                raise ChainMoved(f"block {header.number} does not follow {previous.number}")
            if header.parent_hash != previous.hash:
                if previous is tip:
                    raise ReorgDetected(f"block {header.number} does not extend the stored tip")
                raise ChainMoved(f"block {header.number} does not extend {previous.number}")
        previous = header


def check_logs(logs: Iterable[Mapping[str, Any]], hashes: Mapping[int, str]) -> None:
    """Raise ChainMoved when a log's blockHash is not the header hash of its block."""
    for entry in logs:
        number = int(entry["blockNumber"])
        if str(entry.get("blockHash", "")).lower() != hashes.get(number):
            raise ChainMoved(f"log in block {number} belongs to another branch")


def common_ancestor(stored: Sequence[Header], node_hashes: Mapping[int, str]) -> int | None:
    """Highest stored block whose hash the node still has at that height (None: none left)."""
    for header in sorted(stored, key=lambda h: h.number, reverse=True):
        if node_hashes.get(header.number) == header.hash:
            return header.number
    return None

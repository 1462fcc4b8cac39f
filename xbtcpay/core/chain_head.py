"""The chain head this replica knows: the watcher (or, on a follower, the status feed) moves
it; status.json, the checkout page and /healthz read it.

It is its own small object so that the pages can read the head without holding the watcher,
and the watcher can publish it without knowing who reads.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from xbtcpay.core.feed import PaymentFeed


class ChainHead:
    """The latest scanned block, when it was seen, and whether a watcher runs here."""

    def __init__(self, feed: PaymentFeed, gauge: Callable[[int], None] = lambda n: None) -> None:
        self.number: int | None = None
        self.at: float | None = None  # wall time of the last move (head age in /healthz)
        self.watched = False  # a chain watcher is among this replica's leader jobs
        self._feed = feed
        self._gauge = gauge

    def set(self, number: int) -> None:
        """A new head: recorded, exported as ``xbtcpay_chain_head``, then announced."""
        self.number = number
        self.at = time.time()
        self._gauge(number)
        self._feed.publish_head(number)

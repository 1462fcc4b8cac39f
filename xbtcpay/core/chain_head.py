"""The chain heads this replica knows: the watchers (or, on a follower, the status feed) move
them; status.json, the checkout page and /healthz read them.

It is its own small object so that the pages can read a head without holding a watcher,
and a watcher can publish its head without knowing who reads. The object itself is the head
of the primary chain (the default asset's, the only one of a single ``chain:`` section);
every other configured chain has its own ``ChainHead`` under ``chains``, sharing the feed.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from xbtcpay.core.feed import PaymentFeed


class ChainHead:
    """The latest scanned block, when it was seen, and whether a watcher runs here."""

    def __init__(
        self,
        feed: PaymentFeed,
        gauge: Callable[[int], None] = lambda n: None,
        key: str = "main",
    ) -> None:
        self.key = key
        self.number: int | None = None
        self.at: float | None = None  # wall time of the last move (head age in /healthz)
        self.watched = False  # a chain watcher is among this replica's leader jobs
        self.stale = False  # every node url of the chain is stale (node health)
        self.stale_urls: tuple[str, ...] = ()  # redacted
        self.head_age: float | None = None  # seconds since the head last moved (node health)
        self.chains: dict[str, ChainHead] = {key: self}
        self.generation = 0  # moves of any chain's head (the status cache's validity)
        self._root = self
        self._feed = feed
        self._gauge = gauge

    def add_chain(self, key: str, gauge: Callable[[int], None] = lambda n: None) -> ChainHead:
        """The head of another configured chain (created once, announced on the same feed)."""
        if key not in self.chains:
            head = ChainHead(self._feed, gauge, key)
            head._root = self
            self.chains[key] = head
        return self.chains[key]

    def number_of(self, key: str | None) -> int | None:
        """The latest scanned block of chain ``key`` (None: not known yet, or no such chain)."""
        head = self.chains.get(key) if key is not None else self
        return None if head is None else head.number

    @property
    def mark(self) -> int | None:
        """What a cached body showing confirmations is valid at: the head itself with one
        chain, with several the count of head moves of any chain."""
        root = self._root
        return root.number if len(root.chains) == 1 else root.generation

    def set(self, number: int) -> None:
        """A new head: recorded, exported as ``xbtcpay_chain_head``, then announced."""
        moved = number != self.number
        self.number = number
        self.at = time.time()
        if moved:
            self._root.generation += 1
        self._gauge(number)
        root = self._root  # listeners compare what they are told: a move of any chain
        self._feed.publish_head(number if len(root.chains) == 1 else root.generation)

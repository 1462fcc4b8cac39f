"""Node health of one chain: which of its RPC urls are stale, and whether all of them are.

A node can answer every call and still be useless: stuck at an old head while it reports
itself synced (deposits made since are invisible to it). So a url counts as **stale** when

- its head lags the best head among the chain's urls by more than ``max_lag_blocks``
  (default: about 60 seconds of blocks), or
- its head has not moved for ``stale_after`` seconds (default: 10 block times),

and fresh again as soon as neither holds. The block time is learnt from the heads seen
(the average seconds per block over the moves observed), so defaults suit a 0.25 s chain
as well as a 12 s one; until a few moves were seen, nothing is called stale by age.

Pure bookkeeping over ``observe`` calls and a clock: the watcher asks the nodes, this
decides. No I/O, so the rules are tested on their own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

LAG_SECONDS = 60.0  # default max_lag_blocks: about this many seconds of blocks
STALE_BLOCK_TIMES = 10  # default stale_after: this many block times
MIN_MOVES = 3  # head moves seen before the learnt block time is trusted


@dataclass
class UrlHead:
    """What one url said: its head, when that head last moved, whether it is stale."""

    head: int | None = None
    moved_at: float | None = None
    stale: bool = False


@dataclass
class NodeHealth:
    """The heads of a chain's urls and the verdicts drawn from them."""

    urls: tuple[str, ...]
    max_lag_blocks: int | None = None  # None: about LAG_SECONDS of blocks
    stale_after: float | None = None  # None: STALE_BLOCK_TIMES block times
    clock: Callable[[], float] = field(default=lambda: 0.0, repr=False)
    heads: dict[str, UrlHead] = field(default_factory=dict)
    _first: tuple[float, int] | None = None  # (time, best head) when first seen
    _moves: int = 0
    _best: int | None = None
    _best_moved_at: float | None = None

    def __post_init__(self) -> None:
        for url in self.urls:
            self.heads.setdefault(url, UrlHead())

    @property
    def block_time(self) -> float | None:
        """Seconds per block, learnt from the best head's moves (None until trusted)."""
        if self._first is None or self._best is None or self._moves < MIN_MOVES:
            return None
        at, head = self._first
        blocks = self._best - head
        if blocks <= 0 or self._best_moved_at is None:
            return None
        return max(0.01, (self._best_moved_at - at) / blocks)

    def lag_limit(self) -> int | None:
        """Blocks a url may lag the best one (None: not known yet)."""
        if self.max_lag_blocks is not None:
            return self.max_lag_blocks
        block_time = self.block_time
        return None if block_time is None else max(2, round(LAG_SECONDS / block_time))

    def age_limit(self) -> float | None:
        """Seconds a head may stand still (None: not known yet)."""
        if self.stale_after is not None:
            return self.stale_after
        block_time = self.block_time
        return None if block_time is None else STALE_BLOCK_TIMES * block_time

    def observe(self, url: str, head: int) -> None:
        """``url`` answered ``head`` now."""
        now = self.clock()
        seen = self.heads.setdefault(url, UrlHead())
        if seen.head is None or head != seen.head:
            seen.moved_at = now
        seen.head = head
        if self._best is None or head > self._best:
            if self._first is None:
                self._first = (now, head)
            elif self._best is not None:
                self._moves += 1
            self._best, self._best_moved_at = head, now

    def evaluate(self) -> None:
        """Mark every url stale or fresh as of now."""
        now = self.clock()
        lag, age = self.lag_limit(), self.age_limit()
        best = max((h.head for h in self.heads.values() if h.head is not None), default=None)
        for seen in self.heads.values():
            if seen.head is None or seen.moved_at is None:
                seen.stale = (
                    age is not None and self._first is not None and (now - self._first[0] > age)
                )
                continue
            behind = best is not None and lag is not None and best - seen.head > lag
            still = age is not None and now - seen.moved_at > age
            seen.stale = behind or still

    @property
    def stale_urls(self) -> list[str]:
        return [url for url, seen in self.heads.items() if seen.stale]

    @property
    def all_stale(self) -> bool:
        return bool(self.heads) and all(seen.stale for seen in self.heads.values())

    def head_age(self) -> float | None:
        """Seconds since the best head moved (None before any head was seen)."""
        return None if self._best_moved_at is None else max(0.0, self.clock() - self._best_moved_at)

"""Reads by key that arrive together share one statement: group commit, for reads.

On PostgreSQL every read by key is a round trip and a statement for the server to run. When
many arrive at once (browsers polling status.json for payments not yet in the cache), the
keys asked for while earlier reads are in flight are read together, in one statement
(``WHERE id = ANY(...)``), as soon as a lane is free: under load each round trip answers many
callers, and an idle system still answers a lone read at once.

A batch is sent after every key in it was asked for, so each caller sees at least what was
committed before it asked (a status.json body read before a change can still never be cached
after it: the cache's epoch is taken before the read is asked for). A failed batch fails each
of its callers with the same error.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable, Sequence
from typing import Any, Generic, TypeVar

K = TypeVar("K", bound=Hashable)
ReadMany = Callable[[list[K]], Awaitable[Sequence[Any]]]


class KeyBatcher(Generic[K]):
    """``get(key)``: the row whose ``key_of(row)`` is ``key``, or None; at most ``lanes``
    batches in flight."""

    def __init__(self, read_many: ReadMany[K], key_of: Callable[[Any], K], lanes: int) -> None:
        self._read_many = read_many
        self._key_of = key_of
        self._lanes = lanes
        self._running = 0
        self._pending: dict[K, list[asyncio.Future[Any]]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    async def get(self, key: K) -> Any:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        waiting = self._pending.get(key)
        if waiting is None:
            self._pending[key] = [future]
        else:
            waiting.append(future)
        if self._running < self._lanes:
            self._running += 1
            task = asyncio.create_task(self._drain())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return await future

    async def _drain(self) -> None:
        try:
            while self._pending:
                batch, self._pending = self._pending, {}
                try:
                    rows = await self._read_many(list(batch))
                except BaseException as exc:  # noqa: BLE001 - handed to every caller
                    for futures in batch.values():
                        for future in futures:
                            if future.done():
                                continue
                            if isinstance(exc, asyncio.CancelledError):
                                future.cancel()
                            else:
                                future.set_exception(exc)
                    if isinstance(exc, asyncio.CancelledError):
                        raise
                    continue
                found = {self._key_of(row): row for row in rows}
                for key, futures in batch.items():
                    row = found.get(key)
                    for future in futures:
                        if not future.done():
                            future.set_result(row)
        finally:
            self._running -= 1

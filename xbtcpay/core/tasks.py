"""Background loops that restart with backoff on errors and stop on cancellation.

A supervised loop normally never returns, so the supervisor cannot learn from a return that
it works again. The loop reports each successful iteration with ``progressed()`` instead
(``every`` does it for its job): the next crash then backs off from the shortest delay
again, and an outage that is over no longer delays the following one by the backoff that
earlier outages built up.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass

import structlog

log = structlog.get_logger("xbtcpay.tasks")


@dataclass
class _Backoff:
    failures: int = 0


_current: ContextVar[_Backoff | None] = ContextVar("xbtcpay_task_backoff", default=None)


def progressed() -> None:
    """Tell the supervisor of the running loop that an iteration succeeded (resets its
    backoff); a no-op outside ``supervise``."""
    backoff = _current.get()
    if backoff is not None:
        backoff.failures = 0


async def supervise(
    name: str,
    run: Callable[[], Awaitable[None]],
    *,
    max_backoff: float = 30.0,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> None:
    """Run ``run()`` forever; restart it after an error with exponential backoff, counted
    from the last return or ``progressed()`` call of the loop."""
    backoff = _Backoff()
    token = _current.set(backoff)  # the loop runs in this context, so it reports here
    try:
        while True:
            try:
                await run()
                backoff.failures = 0
            except asyncio.CancelledError:
                raise
            except Exception:
                backoff.failures += 1
                delay = min(max_backoff, 0.5 * 2**backoff.failures) * random.uniform(0.8, 1.2)
                log.exception("task.crashed", task=name, restart_in=round(delay, 2))
                await sleep(delay)
    finally:
        _current.reset(token)


async def every(interval: float, job: Callable[[], Awaitable[None]]) -> None:
    """Call ``job`` every ``interval`` seconds (errors propagate to ``supervise``)."""
    while True:
        await job()
        progressed()
        await asyncio.sleep(interval)

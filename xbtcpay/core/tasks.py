"""Background loops that restart with backoff on errors and stop on cancellation."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable

import structlog

log = structlog.get_logger("xbtcpay.tasks")


async def supervise(
    name: str, run: Callable[[], Awaitable[None]], *, max_backoff: float = 30.0
) -> None:
    """Run ``run()`` forever; restart it after an error with exponential backoff."""
    failures = 0
    while True:
        try:
            await run()
            failures = 0
        except asyncio.CancelledError:
            raise
        except Exception:
            failures += 1
            delay = min(max_backoff, 0.5 * 2**failures) * random.uniform(0.8, 1.2)
            log.exception("task.crashed", task=name, restart_in=round(delay, 2))
            await asyncio.sleep(delay)


async def every(interval: float, job: Callable[[], Awaitable[None]]) -> None:
    """Call ``job`` every ``interval`` seconds (errors propagate to ``supervise``)."""
    while True:
        await job()
        await asyncio.sleep(interval)

"""The supervisor of a background loop: backoff after crashes, reset once the loop works."""

from __future__ import annotations

import asyncio

import pytest

from xbtcpay.core.tasks import every, supervise


async def test_the_backoff_starts_again_once_the_loop_made_progress() -> None:
    """An outage crashes a loop that never returns (``every``) a few times; once one
    iteration succeeded, the next crash waits the shortest delay, not the built-up one."""
    outcomes = iter(["fail", "fail", "fail", "ok", "fail", "fail", "stop"])
    delays: list[float] = []

    async def job() -> None:
        outcome = next(outcomes)
        if outcome == "fail":
            raise ConnectionError("database unavailable")
        if outcome == "stop":
            raise asyncio.CancelledError

    async def no_wait(delay: float) -> None:
        delays.append(delay)

    with pytest.raises(asyncio.CancelledError):
        await supervise("job", lambda: every(0, job), sleep=no_wait)
    expected = [1.0, 2.0, 4.0, 1.0, 2.0]  # 0.5 * 2**failures, failures reset by the "ok"
    assert len(delays) == len(expected)
    for delay, base in zip(delays, expected, strict=True):
        assert 0.8 * base <= delay <= 1.2 * base, (delays, expected)

"""A real daemon (in process) with a Watcher against the session anvil, for watcher tests."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from tests.fixtures.chain import DevChain
from tests.harness import DaemonHandle, deep_merge, running_daemon, wait_until
from xbtcpay.chain.watcher import Watcher
from xbtcpay.core.models import Payment
from xbtcpay.core.tasks import supervise

ETH_ASSET = {"eth": {"native": True, "decimals": 18}}


class Clock:
    """A wall clock the test can move forward (expiry, late window)."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds


@dataclass
class Watch:
    """The daemon, its watcher and the chain, with the waits the tests need."""

    d: DaemonHandle
    watcher: Watcher
    chain: DevChain
    clock: Clock

    async def pay_request(self, amount: str, **params: Any) -> dict[str, Any]:
        """start_payment over the real JSON-RPC port."""
        return await self.d.start_payment(amount, **params)

    async def payment(self, payment_id: str) -> Payment:
        payment: Payment = await self.d.processor.get(payment_id)
        return payment

    async def synced(self, timeout: float = 15.0) -> int:
        """Wait until the watcher has processed the node's current head; return it."""
        head = await self.chain.block_number()
        await wait_until(
            lambda: (self.d.runtime.head.number or -1) >= head and self.watcher.polls > 0, timeout
        )
        polls = self.watcher.polls
        # one full poll begun after the call: the next poll to end may have read the node
        # before it (mid-reorg, say), so wait for the one after it
        await wait_until(lambda: self.watcher.polls > polls + 1, timeout)
        return head

    async def until(self, payment_id: str, status: str, timeout: float = 15.0) -> Payment:
        """Wait for a status; fails with the payment's last state in the message."""

        async def check() -> Payment | None:
            p = await self.payment(payment_id)
            return p if p.status.value == status else None

        try:
            return await wait_until(check, timeout)  # type: ignore[no-any-return]
        except TimeoutError:
            p = await self.payment(payment_id)
            raise AssertionError(f"expected {status}, payment is {p.status.value}: {p}") from None

    async def deposits(self, payment_id: str | None = None) -> list[dict[str, Any]]:
        sql, args = "SELECT * FROM deposits", ()
        if payment_id is not None:
            sql, args = sql + " WHERE payment_id = ?", (payment_id,)  # type: ignore[assignment]
        return [dict(r) for r in await self.d.runtime.db.fetchall(sql + " ORDER BY id", args)]

    async def events(self, payment_id: str) -> list[str]:
        return [e["event"] for e in await self.d.runtime.payments.events(payment_id)]


def units(amount: str, decimals: int = 8) -> int:
    return int(Decimal(amount).scaleb(decimals))


def chain_overrides(
    chain: DevChain, start: int, extra: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Daemon config for a watcher on the test chain, starting at block ``start``."""
    base = {
        "chain": {
            "rpc_urls": [chain.url],
            "confirmations": 3,
            "poll_interval": 0.1,
            "start_block": start,
            "reconcile_interval": 3600,
            "request_timeout": 5,
        },
        "assets": {"0xbtc": {"contract": chain.token, "decimals": 8, "max_amount": "20999984"}},
    }
    return deep_merge(base, extra or {})


@asynccontextmanager
async def watching(
    tmp_path: Path,
    chain: DevChain,
    extra: dict[str, Any] | None = None,
    *,
    clock: Clock | None = None,
    run: bool = True,
    start: int | None = None,
) -> AsyncIterator[Watch]:
    """A daemon with the watcher running as the app runs it (supervised task).

    ``run=False`` leaves the loop off: the test calls ``watcher.poll()`` itself.
    """
    clock = clock or Clock()
    if start is None:
        start = await chain.block_number() + 1
    async with running_daemon(tmp_path, chain_overrides(chain, start, extra), clock=clock) as d:
        watcher = d.runtime.chain.watcher(d.processor)
        task = asyncio.create_task(supervise("watcher", watcher.run) if run else asyncio.sleep(0))
        try:
            yield Watch(d, watcher, chain, clock)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

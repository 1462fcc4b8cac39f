"""Scenario 4: a shop's postback receiver fails in every way while a healthy shop carries on.

The failing shop goes through, time-compressed (``postback.base_delay`` 0.05 s,
``max_delay`` 0.4 s, ``timeout`` 0.3 s): a long outage (the port refuses connections),
answers slower than the timeout, 500s, and connection resets in the middle of the response.
Payments for both shops are paid throughout. At the end every postback reached its shop at
least once with a stable event id, and the healthy shop's delivery latency during the faults
is no worse than in a calm baseline phase.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import socket
import statistics
import struct
import time
from collections.abc import Awaitable, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.harness import DaemonHandle, PostbackReceiver, running_daemon, wait_until
from tests.reliability import invariants
from tests.reliability.scenario import quiet_logs, report, stable_port
from xbtcpay.core.models import PaymentEvent
from xbtcpay.core.state import Event

POSTBACK = {"base_delay": 0.05, "max_delay": 0.4, "timeout": 0.3, "max_age": 120}
SLOW = 1.0  # the failing shop's "slow" answers take this long (> timeout)
PHASES = (("down", 3.0), ("slow", 1.5), ("error", 1.0), ("reset", 1.0))
PAY_EVERY = 0.05


class FaultyShop:
    """A raw HTTP/1.1 postback endpoint whose behaviour the test switches.

    ``ok`` answers 200; ``slow`` answers 200 after ``SLOW`` seconds; ``error`` answers 500;
    ``reset`` sends half a status line and resets the connection (RST); ``down`` is the
    port refusing connections (``stop()``). A body counts as received when the shop answers
    200 to it. Every fault served is counted in ``faults``.
    """

    def __init__(self) -> None:
        self.port = stable_port()  # it goes down and comes back
        self.mode = "ok"
        self.received: list[dict[str, Any]] = []
        self.faults: collections.Counter[str] = collections.Counter()
        self._server: asyncio.Server | None = None
        self._handlers: set[asyncio.Task[Any]] = set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/postback"

    async def start(self) -> None:
        self._server = await asyncio.start_server(
            self._serve, "127.0.0.1", self.port, reuse_address=True
        )

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def close(self) -> None:
        await self.stop()
        for task in list(self._handlers):
            task.cancel()
        await asyncio.gather(*self._handlers, return_exceptions=True)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            headers = _headers(head)
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            await self._answer(writer, headers, body.decode())
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            pass
        finally:
            self._handlers.discard(task)
            writer.close()

    async def _answer(
        self, writer: asyncio.StreamWriter, headers: dict[str, str], body: str
    ) -> None:
        mode = self.mode
        if mode == "reset":
            self.faults["reset"] += 1
            writer.write(b"HTTP/1.1 200 O")
            await writer.drain()
            sock = writer.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()
            return
        if mode == "error":
            self.faults["error"] += 1
            writer.write(_response(500, "error"))
            await writer.drain()
            return
        if mode == "slow":
            self.faults["slow"] += 1
            await asyncio.sleep(SLOW)
        self.received.append(
            {"body": body, "json": json.loads(body), "headers": headers, "at": time.time()}
        )
        writer.write(_response(200, "ok"))
        await writer.drain()


def _headers(head: bytes) -> dict[str, str]:
    lines = head.decode("latin-1").split("\r\n")[1:]
    pairs = (line.split(":", 1) for line in lines if ":" in line)
    return {k.strip().lower(): v.strip() for k, v in pairs}


def _response(status: int, text: str) -> bytes:
    reason = {200: "OK", 500: "Internal Server Error"}[status]
    return (
        f"HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain\r\nContent-Length:"
        f" {len(text)}\r\nConnection: close\r\n\r\n{text}"
    ).encode()


async def _pay(
    d: DaemonHandle, url: str, acknowledged: dict[str, Any], paid_at: dict[str, float]
) -> None:
    """Create a payment for the shop at ``url`` and mark it paid (as a plugin would)."""
    p = await d.start_payment("1.25", postback_url=url)
    acknowledged[p["id"]] = p
    paid_at[p["id"]] = time.time()
    result = await d.processor.apply(
        p["id"], PaymentEvent(Event.PAID, amount_received=Decimal("1.25"), source="test")
    )
    assert result.changed


def _latencies(healthy: PostbackReceiver, paid_at: dict[str, float]) -> list[float]:
    first: dict[str, float] = {}
    for r in healthy.received:
        first.setdefault(r["json"]["id"], r["at"])
    return sorted(first[pid] - paid_at[pid] for pid in paid_at if pid in first)


def _p(values: list[float], q: float) -> float:
    return values[min(len(values) - 1, int(q * len(values)))]


@pytest.mark.timeout(90)
def _all_delivered(d: DaemonHandle, count: int) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return bool(await d.runtime.postbacks.stats() == {"delivered": count})

    return check


async def test_failing_shop_gets_everything_and_the_healthy_shop_does_not_wait(
    tmp_path: Path,
) -> None:
    shop = FaultyShop()
    acknowledged: dict[str, Any] = {}
    calm: dict[str, float] = {}
    stormy: dict[str, float] = {}
    dead: dict[str, float] = {}
    with quiet_logs():
        async with (
            PostbackReceiver() as healthy,
            running_daemon(tmp_path, {"postback": POSTBACK}) as d,
        ):
            await shop.start()
            try:
                for _ in range(20):  # baseline: healthy shop alone
                    await _pay(d, healthy.url, acknowledged, calm)
                    await asyncio.sleep(PAY_EVERY)
                await healthy.wait_for(20)
                for mode, seconds in PHASES:
                    shop.mode = mode
                    if mode == "down":
                        await shop.stop()
                    deadline = time.monotonic() + seconds
                    while time.monotonic() < deadline:
                        await _pay(d, healthy.url, acknowledged, stormy)
                        await _pay(d, shop.url, acknowledged, dead)
                        await asyncio.sleep(PAY_EVERY)
                    if mode == "down":
                        await shop.start()
                shop.mode = "ok"
                await healthy.wait_for(len(calm) + len(stormy))
                final = await invariants.eventually(
                    tmp_path / "xbtcpay.db",
                    acknowledged,
                    lambda: healthy.received + shop.received,
                    timeout=30,
                )
                attempts = await d.runtime.db.fetchall(
                    "SELECT a.http_status, a.error FROM postback_attempts a"
                    " JOIN postbacks p ON p.id = a.postback_id WHERE p.url = ?",
                    (shop.url,),
                )
                # a delivery is marked after the shop's answer arrives: the shop can hold
                # the last postback a moment before its outbox row says delivered
                with contextlib.suppress(TimeoutError):
                    await wait_until(_all_delivered(d, len(acknowledged)), timeout=10)
                outbox = await d.runtime.postbacks.stats()
            finally:
                await shop.close()
    refused = sum(1 for a in attempts if a["error"] and "Connect" in a["error"])
    timeouts = sum(1 for a in attempts if a["error"] == "timeout")
    base, storm = _latencies(healthy, calm), _latencies(healthy, stormy)
    counts = {
        **final.counts,
        "failing_shop_attempts": len(attempts),
        "refused": refused,
        "timeouts": timeouts,
        "http_500": shop.faults["error"],
        "resets": shop.faults["reset"],
        "slow": shop.faults["slow"],
        "healthy_payments": len(calm) + len(stormy),
        "failing_shop_payments": len(dead),
        "healthy_p50_ms_baseline": round(1000 * statistics.median(base)),
        "healthy_p99_ms_baseline": round(1000 * _p(base, 0.99)),
        "healthy_p50_ms_during_faults": round(1000 * statistics.median(storm)),
        "healthy_p99_ms_during_faults": round(1000 * _p(storm, 0.99)),
        "healthy_max_ms_during_faults": round(1000 * storm[-1]),
        "outbox": outbox,
        "violations": len(final.violations),
    }
    report("postback_faults", counts)
    final.assert_ok()
    assert outbox == {"delivered": len(acknowledged)}
    assert refused > 0 and timeouts > 0 and shop.faults["error"] > 0 and shop.faults["reset"] > 0
    assert len(base) == len(calm) and len(storm) == len(stormy)
    # A healthy shop that waited behind the failing one would see the failing shop's timeout
    # (300 ms) or retry delays on top of its usual latency; it must not.
    assert _p(storm, 0.99) < POSTBACK["timeout"] + _p(base, 0.99), counts
    assert statistics.median(storm) < max(0.1, 3 * statistics.median(base)), counts

"""The live feed: Server-Sent Events of the status.json document, fed by the change feed."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp

from tests.harness import running_daemon
from xbtcpay.core.feed import PaymentFeed
from xbtcpay.core.models import Payment, PaymentEvent
from xbtcpay.core.state import Event, State
from xbtcpay.web.keys import CHECKOUT
from xbtcpay.web.live import LiveHub, sse_message


async def next_status(resp: aiohttp.ClientResponse, timeout: float = 10.0) -> dict[str, Any]:
    """The next ``status`` event's document (skips comments and retry lines)."""
    event = None
    async with asyncio.timeout(timeout):
        while True:
            line = (await resp.content.readline()).decode().rstrip("\n")
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: ") and event == "status":
                return dict(json.loads(line[6:]))


async def test_stream_starts_with_the_status_json_document_then_follows_changes(
    tmp_path: Path,
) -> None:
    """Fails when the runtime stops publishing committed changes to the feed."""
    async with running_daemon(tmp_path) as d:
        pid = (await d.start_payment("2"))["id"]
        async with d.session.get(f"{d.public_url}/pay/{pid}/events") as resp:
            assert resp.headers["Content-Type"] == "text/event-stream"
            assert resp.headers["Cache-Control"] == "no-store"
            first = await next_status(resp)
            _, polled = await d.status(pid)
            assert first == polled and first["status"] == "new"
            await d.processor.apply(
                pid,
                PaymentEvent(
                    Event.SEEN, amount_received=Decimal(2), tx_hash="0x" + "cd" * 32, tx_block=7
                ),
            )
            seen = await next_status(resp)
            assert seen["status"] == "seen" and seen["amount_received"] == "2.0"
            d.runtime.head.set(8)
            counted = await next_status(resp)
            assert counted["confirmations"] == 2
            await d.processor.apply(pid, PaymentEvent(Event.PAID))
            paid = await next_status(resp)
            _, polled = await d.status(pid)
            assert paid == polled and paid["status"] == "paid"
        await asyncio.sleep(0)


async def test_a_change_to_another_payment_is_not_sent(tmp_path: Path) -> None:
    async with running_daemon(tmp_path) as d:
        watched = (await d.start_payment("2"))["id"]
        other = (await d.start_payment("3"))["id"]
        async with d.session.get(f"{d.public_url}/pay/{watched}/events") as resp:
            await next_status(resp)
            await d.processor.apply(other, PaymentEvent(Event.CANCELED))
            await d.processor.apply(watched, PaymentEvent(Event.CANCELED))
            doc = await next_status(resp)
            assert doc["status"] == "canceled" and doc["amount"] == "2.0"


async def test_stopping_the_daemon_ends_open_streams(tmp_path: Path) -> None:
    async with running_daemon(tmp_path) as d:
        pid = (await d.start_payment("2"))["id"]
        resp = await d.session.get(f"{d.public_url}/pay/{pid}/events")
        await next_status(resp)
        loop = asyncio.get_running_loop()
        started = loop.time()
        await d.daemon.stop()
        assert loop.time() - started < 5
        assert (await resp.content.read()).strip() == b""
        resp.close()


async def test_full_hub_answers_503_so_pages_poll(tmp_path: Path) -> None:
    async with running_daemon(tmp_path) as d:
        pid = (await d.start_payment("2"))["id"]
        public = next(r.app for r in d.daemon._runners if CHECKOUT in r.app)
        public[CHECKOUT].hub.max_streams = 1
        async with d.session.get(f"{d.public_url}/pay/{pid}/events") as first:
            await next_status(first)
            async with d.session.get(f"{d.public_url}/pay/{pid}/events") as second:
                assert second.status == 503 and second.headers["Retry-After"] == "30"


def test_feed_calls_every_listener_even_when_one_fails() -> None:
    feed, seen = PaymentFeed(), list[tuple[str, object]]()
    payment = Payment(
        id="p1", method="crypto", asset="0xbtc", amount=Decimal(1), status=State.NEW, created_at=0
    )

    def broken(p: Payment, event: str) -> None:
        raise RuntimeError("boom")

    feed.on_payment(broken)
    undo = feed.on_payment(lambda p, event: seen.append((p.id, event)))
    feed.on_head(lambda n: seen.append(("head", n)))
    feed.publish_payment(payment, "created")
    feed.publish_head(9)
    undo()
    feed.publish_payment(payment, "paid")
    assert seen == [("p1", "created"), ("head", 9)]


def test_a_change_between_the_first_read_and_the_subscription_is_sent() -> None:
    first = Payment(
        id="p1",
        method="crypto",
        asset="0xbtc",
        amount=Decimal(1),
        status=State.NEW,
        created_at=0,
        version=1,
    )
    later = dataclasses.replace(first, status=State.CANCELED, version=2)
    hub = LiveHub(lambda p: p.status.value.encode())
    stream = hub.open(first)
    assert stream is not None and stream.take() == sse_message(b"new")
    hub.catch_up(first)
    assert stream.take() is None
    hub.catch_up(later)
    assert stream.take() == sse_message(b"canceled")
    hub.close("p1", stream)
    assert hub.count == 0 and hub.streams == {} and hub.latest == {}

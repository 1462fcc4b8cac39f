"""Durable, signed postbacks: retries, outages, isolation, the documented signature recipe."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

from tests.harness import POSTBACK_SECRET, PostbackReceiver, free_port, running_daemon, wait_until
from xbtcpay.core.models import PaymentEvent
from xbtcpay.core.postback import verify
from xbtcpay.core.state import Event


async def _pay(d: Any, url: str, amount: str = "1.5", data: Any = None) -> str:
    params: dict[str, Any] = {"postback_url": url}
    if data is not None:
        params["data"] = data
    pid = (await d.start_payment(amount, **params))["id"]
    await d.processor.apply(
        pid,
        PaymentEvent(
            Event.SEEN, amount_received=Decimal(amount), tx_hash="0x" + "cd" * 32, tx_block=7
        ),
    )
    await d.processor.apply(pid, PaymentEvent(Event.PAID))
    return str(pid)


def _recipe(secret: str, header: str, raw_body: str) -> bool:
    """The README's verification recipe, written out independently of xbtcpay.core.postback."""
    fields = dict(part.split("=", 1) for part in header.split(","))
    mac = hmac.new(secret.encode(), f"{fields['t']}.{raw_body}".encode(), hashlib.sha256)
    return (
        hmac.compare_digest(mac.hexdigest(), fields["v1"])
        and abs(time.time() - int(fields["t"])) < 300
    )


async def test_paid_postback_has_the_original_body_and_verifies(
    tmp_path: Path, receiver: PostbackReceiver
) -> None:
    async with running_daemon(tmp_path) as d:
        pid = await _pay(d, receiver.url, data={"order_id": "444"})
        [got] = await receiver.wait_for(1)
        body = got["json"]
        assert list(body)[:3] == ["id", "data", "tx_hash"]
        assert body["id"] == pid and body["tx_hash"] == "0x" + "cd" * 32
        assert body["data"] == '{"order_id":"444"}'  # a JSON string, as the original sent it
        assert body["event"] == "paid" and body["status"] == "paid" and body["amount"] == "1.5"
        header = got["headers"]["X-Xbtcpay-Signature"]
        assert _recipe(POSTBACK_SECRET, header, got["body"])
        assert verify(POSTBACK_SECRET, got["body"], header)
        assert not _recipe("wrong-secret", header, got["body"])
        assert not verify(POSTBACK_SECRET, got["body"].replace("1.5", "9.5"), header)
        assert got["headers"]["X-Xbtcpay-Event-Id"] == body["event_id"]


async def test_no_data_is_sent_as_the_string_null(
    tmp_path: Path, receiver: PostbackReceiver
) -> None:
    async with running_daemon(tmp_path) as d:
        await _pay(d, receiver.url)
        [got] = await receiver.wait_for(1)
        assert got["json"]["data"] == "null"


async def test_receiver_returning_500_is_retried(tmp_path: Path) -> None:
    async with PostbackReceiver(fail_times=3) as shop, running_daemon(tmp_path) as d:
        await _pay(d, shop.url)
        [got] = await shop.wait_for(1)
        assert shop.attempts == 4

        async def delivered() -> Any:
            rows = await d.runtime.postbacks.search(status="delivered")
            return rows

        rows = await wait_until(delivered)
        assert rows[0].status == "delivered" and rows[0].attempts == 4
        attempts = await d.runtime.postbacks.attempts(rows[0].id)
        assert [a["http_status"] for a in attempts] == [500, 500, 500, 200]


async def test_receiver_down_then_up_gets_it(tmp_path: Path) -> None:
    shop = PostbackReceiver()
    async with running_daemon(tmp_path) as d:
        pid = await _pay(d, shop.url)

        async def refused() -> Any:
            rows = await d.runtime.postbacks.search(payment_id=pid)
            return rows if rows and rows[0].attempts >= 1 else None

        failed = await wait_until(refused)
        assert failed[0].status == "pending" and failed[0].attempts >= 1
        assert "ClientConnectorError" in (failed[0].last_error or "")
        await shop.start()
        try:
            [got] = await shop.wait_for(1)
            assert got["json"]["id"] == pid
        finally:
            await shop.stop()


async def test_dead_receiver_does_not_delay_another_shop(
    tmp_path: Path, receiver: PostbackReceiver
) -> None:
    slow = PostbackReceiver(delay=6)  # accepts, then hangs past the timeout
    await slow.start()
    try:
        async with running_daemon(tmp_path, {"postback": {"timeout": 2}}) as d:
            for _ in range(20):
                await _pay(d, slow.url)
            dead_port = free_port()
            for _ in range(20):
                await _pay(d, f"http://127.0.0.1:{dead_port}/gone")
            started = time.monotonic()
            await _pay(d, receiver.url)
            await receiver.wait_for(1, timeout=10)
            assert time.monotonic() - started < 3.0
    finally:
        await slow.stop()


async def test_redeliver_and_cli_visibility(tmp_path: Path, receiver: PostbackReceiver) -> None:
    async with running_daemon(tmp_path) as d:
        await _pay(d, receiver.url)
        await receiver.wait_for(1)
        [row] = await d.runtime.postbacks.search()
        assert await d.runtime.postbacks.redeliver(row.id, time.time())
        await receiver.wait_for(2)
        first, second = receiver.received
        assert first["json"]["event_id"] == second["json"]["event_id"]
        assert not await d.runtime.postbacks.redeliver(99999, time.time())


async def test_event_not_subscribed_is_not_posted(
    tmp_path: Path, receiver: PostbackReceiver
) -> None:
    async with running_daemon(tmp_path) as d:
        pid = (await d.start_payment("1", postback_url=receiver.url))["id"]
        assert (await d.processor.apply(pid, PaymentEvent(Event.EXPIRED))).changed
        # The postback would have been queued with the event, in the same transaction.
        assert await d.runtime.postbacks.search(payment_id=pid) == []
        sub = (await d.start_payment("1", postback_url=receiver.url, postback_events=["expired"]))[
            "id"
        ]
        await d.processor.apply(sub, PaymentEvent(Event.EXPIRED))
        [got] = await receiver.wait_for(1)
        assert got["json"]["event"] == "expired" and got["json"]["id"] == sub
        assert json.loads(got["body"])["status"] == "expired"

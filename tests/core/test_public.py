"""status.json and health on the public port."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from tests.harness import running_daemon
from xbtcpay.core.models import PaymentEvent
from xbtcpay.core.state import Event

ORIGINAL_FIELDS = ["address", "amount", "seen_at", "paid_at", "tx_hash"]


async def test_status_json_has_the_original_fields_first(tmp_path: Path) -> None:
    async with running_daemon(tmp_path) as d:
        created = await d.start_payment("222.333")
        status, doc = await d.status(created["id"])
        assert status == 200
        assert list(doc)[:5] == ORIGINAL_FIELDS
        assert doc["address"] == created["address"] and doc["amount"] == "222.333"
        assert doc["seen_at"] is None and doc["paid_at"] is None and doc["tx_hash"] is None
        assert doc["status"] == "new" and doc["required_confirmations"] == 3
        assert doc["amount_received"] == "0.0" and doc["confirmations"] == 0


async def test_status_json_follows_seen_and_paid(tmp_path: Path) -> None:
    async with running_daemon(tmp_path) as d:
        pid = (await d.start_payment("2"))["id"]
        await d.processor.apply(
            pid,
            PaymentEvent(
                Event.SEEN,
                amount_received=Decimal(2),
                tx_hash="0x" + "ab" * 32,
                tx_block=5,
                at=1000,
            ),
        )
        _, doc = await d.status(pid)
        assert doc["seen_at"] == 1000 and doc["paid_at"] is None
        d.runtime.head.set(6)
        _, doc = await d.status(pid)
        assert doc["confirmations"] == 2
        await d.processor.apply(pid, PaymentEvent(Event.PAID, at=1010))
        _, doc = await d.status(pid)
        assert doc["paid_at"] == 1010 and doc["tx_hash"] == "0x" + "ab" * 32
        assert doc["status"] == "paid"


async def test_cors_for_browsers_on_other_origins(tmp_path: Path) -> None:
    async with running_daemon(tmp_path) as d:
        pid = (await d.start_payment("1"))["id"]
        url = f"{d.public_url}/{pid}/status.json"
        async with d.session.get(url, headers={"Origin": "https://shop.example"}) as resp:
            assert resp.headers["Access-Control-Allow-Origin"] == "*"
            assert resp.headers["Cache-Control"] == "no-store"
        async with d.session.options(
            url, headers={"Origin": "https://shop.example", "Access-Control-Request-Method": "GET"}
        ) as resp:
            assert resp.status == 204
            assert "GET" in resp.headers["Access-Control-Allow-Methods"]


async def test_cors_restricted_origins(tmp_path: Path) -> None:
    async with running_daemon(tmp_path, {"public": {"cors_origins": ["https://a.example"]}}) as d:
        pid = (await d.start_payment("1"))["id"]
        url = f"{d.public_url}/{pid}/status.json"
        async with d.session.get(url, headers={"Origin": "https://a.example"}) as resp:
            assert resp.headers["Access-Control-Allow-Origin"] == "https://a.example"
        async with d.session.get(url, headers={"Origin": "https://evil.example"}) as resp:
            assert "Access-Control-Allow-Origin" not in resp.headers


async def test_unknown_and_malformed_ids_are_404_json(tmp_path: Path) -> None:
    async with running_daemon(tmp_path) as d:
        for pid in ("abcdefabcdefabcd", "x", "..%2F..%2Fetc", "a" * 200):
            async with d.session.get(f"{d.public_url}/{pid}/status.json") as resp:
                assert resp.status == 404
                assert (await resp.json())["error"] == "not found"


async def test_healthz_reports_database_and_chain(tmp_path: Path) -> None:
    async with running_daemon(tmp_path) as d, d.session.get(d.rpc_url + "/healthz") as resp:
        body = await resp.json()
        assert resp.status == 200 and body["checks"]["database"] == "ok"

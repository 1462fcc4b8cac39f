"""JSON-RPC on the private port: the original's errors, hostile input, whitelist."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.harness import running_daemon
from xbtcpay.core.models import PaymentEvent
from xbtcpay.core.state import Event


@pytest.fixture
async def d(tmp_path: Path) -> Any:
    async with running_daemon(tmp_path) as handle:
        yield handle


async def test_start_payment_as_the_original(d: Any) -> None:
    reply = await d.call(
        "start_payment",
        {
            "amount": "222.333",
            "data": {"order_id": "444"},
            "postback_url": "https://xxx.yyy/payment_complete",
        },
        request_id=111,
    )
    assert reply["jsonrpc"] == "2.0" and reply["id"] == 111
    result = reply["result"]
    assert result["amount"] == "222.333"
    assert result["address"].startswith("0x") and result["address"] == result["address"].lower()
    assert len(result["id"]) >= 22
    assert result["status"] == "new" and result["asset"] == "0xbtc"
    assert result["payment_uri"].startswith(
        "ethereum:0x5FbDB2315678afecb367f032d93F642f64180aa3@31337/transfer?address="
    )
    assert result["payment_uri"].endswith("&uint256=22233300000")
    assert result["status_url"].endswith(f"/{result['id']}/status.json")


async def test_whole_amount_formatted_like_the_original(d: Any) -> None:
    assert (await d.start_payment("10"))["amount"] == "10.0"


ORIGINAL_ERRORS = [
    (b"{not json", -32700, "Parse error"),
    (
        b'{"jsonrpc": "1.0", "id": 1, "method": "start_payment", "params": {"amount": "1"}}',
        -32600,
        "Invalid request",
    ),
    (b'{"id": 1, "method": "start_payment", "params": {"amount": "1"}}', -32600, "Invalid request"),
    (b'{"jsonrpc": "2.0", "id": 1, "method": "start_payment"}', -32600, "Invalid request"),
    (
        b'{"jsonrpc": "2.0", "id": 1, "method": "stop_payment", "params": {}}',
        -32601,
        "Method not found",
    ),
    (
        b'{"jsonrpc": "2.0", "id": 1, "method": "start_payment", "params": {}}',
        -32602,
        "Invalid params: missing amount",
    ),
    (
        b'{"jsonrpc": "2.0", "id": 1, "method": "start_payment", "params": {"amount": "abc"}}',
        -32602,
        "Invalid params: invalid amount",
    ),
    (
        b'{"jsonrpc": "2.0", "id": 1, "method": "start_payment", "params": {"amount": "1",'
        b' "postback_url": "not a url"}}',
        -32602,
        "Invalid params: invalid postback URL",
    ),
]


@pytest.mark.parametrize(("body", "code", "message"), ORIGINAL_ERRORS)
async def test_original_error_codes_and_messages(
    d: Any, body: bytes, code: int, message: str
) -> None:
    status, reply = await d.post_raw(body, {"Content-Type": "application/json"})
    assert status == 200
    assert reply["error"] == {"code": code, "message": message}
    assert "result" not in reply


HOSTILE_PARAMS: list[Any] = [
    {"amount": 1},
    {"amount": 1.5},
    {"amount": True},
    {"amount": None},
    {"amount": []},
    {"amount": {}},
    {"amount": "1e5"},
    {"amount": "1E5"},
    {"amount": "NaN"},
    {"amount": "Infinity"},
    {"amount": "-0"},
    {"amount": "-1"},
    {"amount": "0"},
    {"amount": "0.000000001"},
    {"amount": "99999999999999999999999999999999"},
    {"amount": "20999984.00000001"},
    {"amount": "1" * 5000},
    {"amount": " 1"},
    {"amount": "1", "postback_url": "ftp://x.y/z"},
    {"amount": "1", "postback_url": 5},
    {"amount": "1", "postback_url": "http://"},
    {"amount": "1", "postback_url": "javascript:alert(1)"},
    {"amount": "1", "postback_url": "http://x.y/" + "a" * 3000},
    {"amount": "1", "asset": "doge"},
    {"amount": "1", "asset": 5},
    {"amount": "1", "expires_in": "soon"},
    {"amount": "1", "expires_in": -5},
    {"amount": "1", "expires_in": 10**30},
    {"amount": "1", "order_id": {"a": 1}},
    {"amount": "1", "order_id": "x" * 500},
    {"amount": "1", "data": "x" * 70000},
    {"amount": "1", "postback_events": ["bogus"]},
    {"amount": "1", "postback_events": "paid"},
]


@pytest.mark.parametrize("params", HOSTILE_PARAMS)
async def test_hostile_params_get_invalid_params_and_create_nothing(d: Any, params: Any) -> None:
    reply = await d.call("start_payment", params)
    assert reply["error"]["code"] == -32602, reply
    assert reply["error"]["message"].startswith("Invalid params")
    assert await d.runtime.payments.count_by_status() == {}


HOSTILE_BODIES: list[bytes] = [
    b"",
    b"null",
    b"[]",
    b"42",
    b'"text"',
    b"[1, 2]",
    b"\xff\xfe\x00",
    b'{"jsonrpc": "2.0", "id": 1, "method": "start_payment", "params": {"amount": NaN}}',
    b'{"jsonrpc": "2.0", "id": 1, "method": "start_payment", "params": {"amount": Infinity}}',
    b'{"jsonrpc": "2.0", "id": 1, "method": 5, "params": {}}',
    b'{"jsonrpc": "2.0", "id": {"a": 1}, "method": "start_payment", "params": {}}',
    b'{"jsonrpc": "2.0", "id": 1, "method": "start_payment", "params": "amount"}',
    b'{"jsonrpc": "2.0", "id": 1, "method": "start_payment", "params": ["1"]}',
    b'{"jsonrpc": "2.0", "id": 1e400, "method": "start_payment", "params": {}}',
    b'{"jsonrpc": "2.0", "id": ' + b"9" * 5000 + b', "method": "x", "params": {}}',
    b"[" * 100000 + b"]" * 100000,
    b'{"a":' * 5000 + b"1" + b"}" * 5000,
    b'{"jsonrpc": "2.0", "id": 1, "method": "get_payment", "params": {"id": 12}}',
    b'{"jsonrpc": "2.0", "id": 1, "method": "list_payments", "params": {"limit": -1}}',
    b'{"jsonrpc": "2.0", "id": 1, "method": "cancel_payment", "params": {"id": "nope-nope"}}',
]


@pytest.mark.parametrize("body", HOSTILE_BODIES, ids=range(len(HOSTILE_BODIES)))
async def test_hostile_bodies_get_a_clear_error_never_500(d: Any, body: bytes) -> None:
    status, reply = await d.post_raw(body, {"Content-Type": "application/json"})
    assert status in (200, 413), status
    items = reply if isinstance(reply, list) else [reply]
    for item in items:
        assert item["error"]["code"] in (-32700, -32600, -32601, -32602, -32004), item
    assert await d.runtime.payments.count_by_status() == {}


async def test_megabyte_body_is_refused_with_413(d: Any) -> None:
    body = json.dumps(
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "start_payment",
            "params": {"amount": "1", "data": "x" * 1_100_000},
        }
    )
    status, reply = await d.post_raw(body, {"Content-Type": "application/json"})
    assert status == 413 and reply["error"]["code"] == -32600


async def test_batch_and_notifications(d: Any) -> None:
    batch = [
        {"jsonrpc": "2.0", "id": 1, "method": "start_payment", "params": {"amount": "1"}},
        {"jsonrpc": "2.0", "method": "start_payment", "params": {"amount": "2"}},
        {"jsonrpc": "2.0", "id": 3, "method": "nope", "params": {}},
        5,
    ]
    status, reply = await d.post_raw(json.dumps(batch), {"Content-Type": "application/json"})
    assert status == 200
    assert [r.get("id") for r in reply] == [1, 3, None]
    assert "result" in reply[0] and reply[1]["error"]["code"] == -32601
    assert reply[2]["error"]["code"] == -32600
    assert sum((await d.runtime.payments.count_by_status()).values()) == 2
    status, _ = await d.post_raw(json.dumps(batch[1]), {"Content-Type": "application/json"})
    assert status == 204


async def test_order_id_makes_start_payment_idempotent(d: Any) -> None:
    first = await d.start_payment("5", order_id="A-1")
    again = await d.start_payment("5", order_id="A-1")
    assert first["id"] == again["id"] and first["address"] == again["address"]
    reply = await d.call("start_payment", {"amount": "6", "order_id": "A-1"})
    assert reply["error"]["code"] == -32009


async def test_get_list_cancel(d: Any) -> None:
    created = await d.start_payment("3")
    got = (await d.call("get_payment", {"id": created["id"]}))["result"]
    assert got["status"] == "new" and got["amount"] == "3.0"
    listed = (await d.call("list_payments", {"status": "new"}))["result"]["payments"]
    assert [p["id"] for p in listed] == [created["id"]]
    canceled = (await d.call("cancel_payment", {"id": created["id"]}))["result"]
    assert canceled["status"] == "canceled"
    again = await d.call("cancel_payment", {"id": created["id"]})
    assert again["error"]["code"] == -32602
    missing = await d.call("get_payment", {"id": "unknown-id-123"})
    assert missing["error"]["code"] == -32004


async def test_whitelist_refuses_other_addresses_even_with_forged_forwarded_for(
    tmp_path: Path,
) -> None:
    overrides = {"rpc": {"ip_whitelist": ["10.9.9.9/32"]}}
    async with running_daemon(tmp_path, overrides) as d:
        for headers in (
            {},
            {"X-Forwarded-For": "10.9.9.9"},
            {"X-Real-IP": "10.9.9.9"},
            {"X-Forwarded-For": "127.0.0.1, 10.9.9.9"},
        ):
            async with d.session.post(
                d.rpc_url + "/",
                json={
                    "jsonrpc": "2.0",
                    "id": 1,
                    "method": "start_payment",
                    "params": {"amount": "1"},
                },
                headers=headers,
            ) as resp:
                assert resp.status == 403
        for path in ("/metrics", "/ws", "/api/v0/rpc/start_payment"):
            async with d.session.get(d.rpc_url + path) as resp:
                assert resp.status == 403


async def test_forwarded_for_is_honoured_only_from_trusted_proxies(tmp_path: Path) -> None:
    overrides = {"rpc": {"ip_whitelist": ["10.9.9.9/32"], "trusted_proxies": ["127.0.0.1/32"]}}
    async with running_daemon(tmp_path, overrides) as d:
        body = {"jsonrpc": "2.0", "id": 1, "method": "start_payment", "params": {"amount": "1"}}
        async with d.session.post(
            d.rpc_url + "/", json=body, headers={"X-Forwarded-For": "10.9.9.9"}
        ) as resp:
            assert resp.status == 200
        async with d.session.post(
            d.rpc_url + "/", json=body, headers={"X-Forwarded-For": "10.9.9.9, 10.1.1.1"}
        ) as resp:
            assert resp.status == 403


async def test_expired_payment_in_its_late_window_is_not_canceled_silently(d: Any) -> None:
    created = await d.start_payment("3")
    await d.processor.apply(created["id"], PaymentEvent(Event.EXPIRED, dedupe_key="t:expired"))
    before = await d.runtime.payments.events(created["id"])
    reply = await d.call("cancel_payment", {"id": created["id"]})
    assert reply["error"] == {
        "code": -32602,
        "message": "Invalid params: cannot cancel a payment in state expired",
    }
    assert await d.runtime.payments.events(created["id"]) == before
    late = await d.processor.apply(
        created["id"],
        PaymentEvent(Event.PAID, amount_received=Decimal(3), tx_hash="0x" + "ab" * 32, tx_block=1),
    )
    assert late.changed and late.payment.status.value == "paid" and late.payment.late

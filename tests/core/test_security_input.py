"""Undecodable or too-deep input is a 4xx on every route, before any handler runs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.apple import AppleChain
from tests.fakes.verify_receipt_server import VerifyReceiptServer
from tests.harness import running_daemon
from tests.plugins.drivers.inapp import PRODUCTS
from tests.plugins.drivers.inapp import settings as inapp_settings
from tests.plugins.test_appstore import apple, chain  # noqa: F401 - fixtures
from tests.plugins.test_appstore import settings as appstore_settings
from xbtcpay.core.jsonio import JsonError, loads

DEEP = b"[" * 100_000 + b"]" * 100_000
JSON = {"Content-Type": "application/json"}
SURROGATE_ID = b'{"jsonrpc":"2.0","id":"\\ud800","method":"list_payments","params":{}}'


@pytest.fixture
async def d(
    tmp_path: Path,
    chain: AppleChain,  # noqa: F811
    apple: VerifyReceiptServer,  # noqa: F811
) -> Any:
    overrides = appstore_settings(tmp_path, chain, apple)
    overrides["plugins"]["inapp"] = inapp_settings()
    overrides["products"] = {**overrides["products"], **PRODUCTS}
    async with running_daemon(tmp_path, overrides) as handle:
        yield handle


@pytest.mark.parametrize("path", ["/webhooks/appstore", "/inapp/postback"])
@pytest.mark.parametrize(
    "body", [DEEP, b'{"a":' * 70 + b"1" + b"}" * 70, b'"\\udc00"', b"\xff\xfe{}"]
)
@pytest.mark.parametrize("content_type", ["application/json", "text/plain"])
async def test_public_webhooks_answer_400_for_unusable_bodies(
    d: Any, path: str, body: bytes, content_type: str, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    async with d.session.post(
        d.public_url + path, data=body, headers={"Content-Type": content_type}
    ) as resp:
        assert resp.status == 400
    logged = capsys.readouterr().out
    assert "Traceback" not in logged and "http.bad_input" in logged
    assert logged.count("\n") == 1 and "[[[" not in logged and '{"a":' not in logged
    assert await d.runtime.payments.count_by_status() == {}


async def test_a_lone_surrogate_in_a_json_rpc_id_is_a_parse_error_not_a_500(d: Any) -> None:
    status, reply = await d.post_raw(SURROGATE_ID, JSON)
    assert status == 200 and reply["error"]["code"] == -32700 and reply["id"] is None
    async with d.session.post(
        d.rpc_url + "/api/v0/rpc/start_payment",
        headers=JSON,
        data=b'{"amount":"1","data":{"k":"\\ud800"}}',
    ) as resp:
        assert resp.status == 400
    assert await d.runtime.payments.count_by_status() == {}


async def test_a_lone_surrogate_in_a_ws_event_id_runs_nothing(d: Any) -> None:
    async with d.session.ws_connect(d.rpc_url + "/ws") as ws:
        await ws.send_str(
            '{"endpoint":"start_payment","data":{"amount":"1"},"event":{"id":"\\ud800","date":1}}'
        )
        reply = await ws.receive_json(timeout=10)
        assert reply["error"]["code"] == -32700 and reply["event"]["id"] is None
        await ws.send_json(
            {"endpoint": "list_payments", "data": {}, "event": {"id": "next", "date": 1}}
        )
        after = await ws.receive_json(timeout=10)
        assert after["event"]["id"] == "next" and after["error"]["status"] is False, after
    assert await d.runtime.payments.count_by_status() == {}


async def test_duplicate_keys_are_refused(d: Any) -> None:
    status, reply = await d.post_raw(
        b'{"jsonrpc":"2.0","id":1,"method":"start_payment","params":{"amount":"1",'
        b'"amount":"1000"}}',
        JSON,
    )
    assert status == 200 and reply["error"]["code"] == -32700
    with pytest.raises(JsonError):
        loads('{"a": {"b": 1, "b": 1}}')


@pytest.mark.parametrize("text", [r'"\ud83d\ude00"', r'"\\ud800"', r'"\u00e9"'])
def test_valid_escapes_still_parse(text: str) -> None:
    assert loads(text) == json.loads(text)

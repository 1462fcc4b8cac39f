"""API keys on the private port: every scope allowed and refused on every transport,
revoked, expired, forged and missing keys refused, and ``rpc.auth: whitelist`` unchanged."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.admin.keys import api_call, bearer, new_key, rpc_call
from tests.harness import REPO, DaemonHandle, base_config, running_daemon, write_config
from xbtcpay.app.config import parse_config
from xbtcpay.core.errors import ConfigError
from xbtcpay.storage.api_keys import ApiKeyStore
from xbtcpay.web.scopes import METHOD_SCOPES, PLUGIN_SCOPE, ROUTE_SCOPES, SCOPES

KEYS = {"rpc": {"auth": "keys"}}
REFUSALS = (401, 403)
REFUSAL_CODES = (-32001, -32003)


class Clock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _dir(tmp_path: Path, name: str) -> Path:
    (tmp_path / name).mkdir()
    return tmp_path / name


def _passed_the_key_check(status: int, body: Any) -> bool:
    code = (body.get("error") or {}).get("code") if isinstance(body, dict) else None
    return status not in REFUSALS and code not in REFUSAL_CODES


async def _payments(d: DaemonHandle) -> dict[str, int]:
    return dict(await d.runtime.payments.count_by_status())


async def test_the_whitelist_default_is_unchanged_and_ignores_any_authorization(
    tmp_path: Path,
) -> None:
    async with running_daemon(tmp_path) as d:
        assert d.config.rpc.auth == "whitelist"
        assert "result" in await d.call("start_payment", {"amount": "1"})
        status, body = await rpc_call(
            d,
            "xbk_0000000000000000_forged",
            {"jsonrpc": "2.0", "id": 1, "method": "get_payment", "params": {"id": "x"}},
        )
        assert status == 200 and body["error"]["code"] != -32001
        async with d.session.get(d.rpc_url + "/metrics") as resp:
            assert resp.status == 200
    async with running_daemon(_dir(tmp_path, "w"), {"rpc": {"ip_whitelist": ["10.9.9.9/32"]}}) as d:
        _, key = await new_key(d, SCOPES)
        status, _ = await api_call(d, key, "list_payments", {})
        assert status == 403  # the whitelist alone decides: a key opens nothing


@pytest.mark.parametrize("method", sorted(METHOD_SCOPES))
async def test_each_method_needs_its_scope_on_the_http_api(tmp_path: Path, method: str) -> None:
    scope = METHOD_SCOPES[method]
    async with running_daemon(tmp_path, KEYS) as d:
        _, only = await new_key(d, [scope])
        _, others = await new_key(d, SCOPES - {scope})
        before = await _payments(d)
        status, body = await api_call(d, others, method, {"amount": "1"})
        assert status == 403, body
        assert body["error"]["code"] == -32003
        assert f"lacks the scope {scope} for {method}" in body["error"]["message"]
        assert await _payments(d) == before  # a refusal changes nothing
        status, body = await api_call(d, only, method, {"amount": "1"})
        assert _passed_the_key_check(status, body), (method, status, body)


async def test_scopes_allow_and_refuse_on_jsonrpc_and_websocket(tmp_path: Path) -> None:
    async with running_daemon(tmp_path, KEYS) as d:
        _, creator = await new_key(d, ["payments:create"])
        _, reader = await new_key(d, ["payments:read"])
        start = {"jsonrpc": "2.0", "id": 1, "method": "start_payment", "params": {"amount": "1"}}
        status, body = await rpc_call(d, creator, start)
        assert status == 200 and body["result"]["id"]
        pid = body["result"]["id"]
        status, body = await rpc_call(d, reader, start)
        assert status == 403 and body["error"]["code"] == -32003
        assert "payments:create" in body["error"]["message"]
        get = {"jsonrpc": "2.0", "id": 2, "method": "get_payment", "params": {"id": pid}}
        status, body = await rpc_call(d, reader, get)
        assert status == 200 and body["result"]["id"] == pid
        # a batch with one call outside the key's scopes is refused whole: nothing runs
        status, body = await rpc_call(d, reader, [get, start])
        assert status == 403 and body["error"]["code"] == -32003
        assert await _payments(d) == {"new": 1}

        async with d.session.ws_connect(d.rpc_url + "/ws", headers=bearer(reader)) as ws:
            await ws.send_json({"endpoint": "get_payment", "data": {"id": pid}})
            reply = await ws.receive_json(timeout=30)
            assert reply["data"]["id"] == pid and not reply["error"]["status"]
            await ws.send_json({"endpoint": "start_payment", "data": {"amount": "1"}})
            reply = await ws.receive_json(timeout=30)
            assert reply["data"] is None and reply["error"]["code"] == -32003
        assert await _payments(d) == {"new": 1}
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            async with d.session.ws_connect(d.rpc_url + "/ws"):
                pass
        assert refused.value.status == 401


async def test_a_plugin_method_needs_plugins_call(tmp_path: Path) -> None:
    async with running_daemon(tmp_path, KEYS) as d:
        _, without = await new_key(d, SCOPES - {PLUGIN_SCOPE})
        _, with_it = await new_key(d, [PLUGIN_SCOPE])
        status, body = await api_call(d, without, "payment.someStoreMethod", {})
        assert status == 403 and PLUGIN_SCOPE in body["error"]["message"]
        status, body = await api_call(d, with_it, "payment.someStoreMethod", {})
        assert status == 404  # past the key check: no such method


async def test_other_private_routes_need_their_scope_and_healthz_none(tmp_path: Path) -> None:
    async with running_daemon(tmp_path, KEYS) as d:
        _, metrics = await new_key(d, ["metrics:read"])
        _, payments = await new_key(d, ["payments:read"])
        async with d.session.get(d.rpc_url + "/metrics", headers=bearer(metrics)) as resp:
            assert resp.status == 200
        async with d.session.get(d.rpc_url + "/metrics", headers=bearer(payments)) as resp:
            assert resp.status == 403
            assert "metrics:read" in (await resp.json())["error"]["message"]
        async with d.session.get(d.rpc_url + "/metrics") as resp:
            assert resp.status == 401
        async with d.session.get(d.rpc_url + "/healthz") as resp:
            assert resp.status in (200, 503)
        purchase = {"customer": "c1", "PurchaseToken": "t1", "Product": {"Token": "p"}}
        for path in ("/User/Purchase", "/User/Purchase.json", "/User/Purchase.jsv"):
            async with d.session.post(
                d.rpc_url + path, json=purchase, headers=bearer(payments)
            ) as resp:
                assert resp.status == 403, path
                assert "purchases:create" in await resp.text(), path
        nexx = "/v3.1/payment/itemstate"
        async with d.session.post(d.rpc_url + nexx, data={"customer": "c1"}) as resp:
            assert resp.status == 401  # the nexx-compatible routes need a key too
        async with d.session.post(
            d.rpc_url + nexx, data={"customer": "c1"}, headers=bearer(payments)
        ) as resp:
            assert resp.status == 403, await resp.text()
        async with d.session.get(d.rpc_url + "/nowhere", headers=bearer("nope")) as resp:
            assert resp.status == 401  # no route is probed without a key


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "Bearer",
        "Basic dXNlcjpwYXNz",
        "Bearer xbk_0000000000000000_unknownsecret",
        "Bearer not-a-key",
        "Bearer xbk_short_secret",
    ],
)
async def test_a_missing_malformed_unknown_or_forged_key_is_401(
    tmp_path: Path, header: str | None
) -> None:
    async with running_daemon(tmp_path, KEYS) as d:
        headers = {} if header is None else {"Authorization": header}
        start = {"jsonrpc": "2.0", "id": 1, "method": "start_payment", "params": {"amount": "1"}}
        async with d.session.post(d.rpc_url + "/", json=start, headers=headers) as resp:
            assert resp.status == 401
            assert resp.headers["WWW-Authenticate"].startswith("Bearer")
            body = await resp.json()
        assert body["error"]["code"] == -32001 and body["id"] is None
        async with d.session.post(
            d.rpc_url + "/api/v0/rpc/start_payment", json={"amount": "1"}, headers=headers
        ) as resp:
            assert resp.status == 401
        assert await _payments(d) == {}


async def test_a_real_key_id_with_a_forged_secret_is_401(tmp_path: Path) -> None:
    async with running_daemon(tmp_path, KEYS) as d:
        key_id, key = await new_key(d, SCOPES)
        forged = f"xbk_{key_id}_{key.rsplit('_', 1)[1][::-1]}"
        for candidate in (forged, key + "x", key[:-1]):
            status, body = await api_call(d, candidate, "start_payment", {"amount": "1"})
            assert status == 401 and body["error"]["message"] == "Unauthorized: invalid API key"
        status, _ = await api_call(d, key, "list_payments", {})
        assert status == 200
        assert await _payments(d) == {}


async def test_a_revoked_key_is_refused_also_on_an_open_websocket(tmp_path: Path) -> None:
    async with running_daemon(tmp_path, KEYS) as d:
        key_id, key = await new_key(d, SCOPES)
        status, _ = await api_call(d, key, "list_payments", {})
        assert status == 200
        async with d.session.ws_connect(d.rpc_url + "/ws", headers=bearer(key)) as ws:
            await ws.send_json({"endpoint": "list_payments", "data": {}})
            assert not (await ws.receive_json(timeout=30))["error"]["status"]
            assert await ApiKeyStore(d.runtime.db).revoke(key_id, int(d.processor.now()))
            await ws.send_json({"endpoint": "start_payment", "data": {"amount": "1"}})
            reply = await ws.receive_json(timeout=30)
            assert reply["error"]["code"] == -32001
            assert reply["error"]["message"] == "Unauthorized: API key revoked"
        status, body = await api_call(d, key, "start_payment", {"amount": "1"})
        assert status == 401 and body["error"]["message"] == "Unauthorized: API key revoked"
        assert await _payments(d) == {}


async def test_a_key_is_refused_from_its_expiry_on(tmp_path: Path) -> None:
    clock = Clock()
    async with running_daemon(tmp_path, KEYS, clock=clock) as d:
        _, key = await new_key(d, SCOPES, expires_at=int(clock.now) + 60)
        status, _ = await api_call(d, key, "start_payment", {"amount": "1"})
        assert status == 200
        clock.now += 60
        status, body = await api_call(d, key, "start_payment", {"amount": "1"})
        assert status == 401 and body["error"]["message"] == "Unauthorized: API key expired"
        assert await _payments(d) == {"new": 1}


async def test_both_needs_a_whitelisted_address_and_a_key(tmp_path: Path) -> None:
    async with running_daemon(tmp_path, {"rpc": {"auth": "both"}}) as d:
        _, key = await new_key(d, SCOPES)
        assert (await api_call(d, None, "list_payments", {}))[0] == 401
        assert (await api_call(d, key, "list_payments", {}))[0] == 200
    outside = {"rpc": {"auth": "both", "ip_whitelist": ["10.9.9.9/32"]}}
    async with running_daemon(_dir(tmp_path, "outside"), outside) as d:
        _, key = await new_key(d, SCOPES)
        assert (await api_call(d, key, "list_payments", {}))[0] == 403


async def test_keys_alone_admits_any_address_with_a_key(tmp_path: Path) -> None:
    overrides = {"rpc": {"auth": "keys", "ip_whitelist": ["10.9.9.9/32"]}}
    async with running_daemon(tmp_path, overrides) as d:
        _, key = await new_key(d, ["payments:read"])
        assert (await api_call(d, key, "list_payments", {}))[0] == 200
        assert (await api_call(d, None, "list_payments", {}))[0] == 401


@pytest.mark.parametrize("value", ["key", "", "Keys", None, ["keys"]])
def test_a_wrong_rpc_auth_stops_start_up_with_one_line(tmp_path: Path, value: Any) -> None:
    raw = base_config(tmp_path, {"rpc": {"auth": value}})
    with pytest.raises(ConfigError) as refused:
        parse_config(raw, write_config(tmp_path, raw))
    assert [p for p in refused.value.problems if "rpc.auth" in p] == [
        f"rpc.auth: expected whitelist, keys or both, got {value!r}"
    ]


def test_the_docs_scope_table_is_the_code_table() -> None:
    text = (REPO / "docs" / "api-keys.md").read_text().split("## Scopes")[1].split("##")[0]
    rows = {
        line.split("|")[1].strip(" `"): line.split("|")[2]
        for line in text.splitlines()
        if line.startswith("| `") and ":" in line.split("|")[1]
    }
    assert set(rows) == SCOPES
    for method, scope in METHOD_SCOPES.items():
        assert f"`{method}`" in rows[scope], (method, scope)
    for route, scope in ROUTE_SCOPES.items():
        assert f"{route}`" in rows[scope], (route, scope)

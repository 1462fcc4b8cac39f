"""The private port against an outside attacker: forwarded headers, browsers, foreign Hosts."""

from __future__ import annotations

import json
from pathlib import Path

import aiohttp
import pytest
from multidict import CIMultiDict

from tests.harness import running_daemon
from xbtcpay.core.settings import Listen
from xbtcpay.web.browser_guard import allowed_hosts, host_allowed
from xbtcpay.web.settings import RpcConfig

START = {"jsonrpc": "2.0", "id": 1, "method": "start_payment", "params": {"amount": "1"}}


async def test_a_forged_forwarded_for_line_before_the_proxys_line_is_not_the_client(
    tmp_path: Path,
) -> None:
    """HAProxy's ``option forwardfor`` appends its own line after the client's forged one."""
    overrides = {"rpc": {"ip_whitelist": ["10.9.9.9/32"], "trusted_proxies": ["127.0.0.1/32"]}}
    async with running_daemon(tmp_path, overrides) as d:
        forged = CIMultiDict([("X-Forwarded-For", "10.9.9.9"), ("X-Forwarded-For", "203.0.113.7")])
        async with d.session.post(d.rpc_url + "/", json=START, headers=forged) as resp:
            assert resp.status == 403
        honest = CIMultiDict([("X-Forwarded-For", "203.0.113.7"), ("X-Forwarded-For", "10.9.9.9")])
        async with d.session.post(d.rpc_url + "/", json=START, headers=honest) as resp:
            assert resp.status == 200


@pytest.mark.parametrize(
    "forged",
    [
        "for=10.9.9.9",
        'for="10.9.9.9"',
        "for=10.9.9.9:80",
        'for="10.9.9.9:80"',
        'for="[::1]:1234"',
        "for=[::1]",
        'FOR="[2001:db8::9]"',
        "for=203.0.113.7, for=10.9.9.9",
        "for=10.9.9.9;proto=https, for=10.9.9.9",
    ],
)
async def test_a_clients_own_forwarded_header_is_ignored_behind_an_x_forwarded_for_proxy(
    tmp_path: Path, forged: str
) -> None:
    """nginx appends ``X-Forwarded-For`` and passes the client's ``Forwarded`` through."""
    overrides = {
        "rpc": {
            "ip_whitelist": ["10.9.9.9/32", "::1/128", "2001:db8::9/128"],
            "trusted_proxies": ["127.0.0.1/32"],
        }
    }
    async with running_daemon(tmp_path, overrides) as d:
        for lines in ([("Forwarded", forged)], [("Forwarded", forged), ("Forwarded", forged)]):
            headers = CIMultiDict([*lines, ("X-Forwarded-For", "203.0.113.7")])
            async with d.session.post(d.rpc_url + "/", json=START, headers=headers) as resp:
                assert resp.status == 403, forged
        honest = CIMultiDict([("Forwarded", "for=203.0.113.7"), ("X-Forwarded-For", "10.9.9.9")])
        async with d.session.post(d.rpc_url + "/", json=START, headers=honest) as resp:
            assert resp.status == 200  # what the proxy appended decides
        assert await d.runtime.payments.count_by_status() == {"new": 1}


async def test_the_forwarded_header_is_read_right_to_left_too(tmp_path: Path) -> None:
    overrides = {
        "rpc": {
            "ip_whitelist": ["10.9.9.9/32", "2001:db8::9/128"],
            "trusted_proxies": ["127.0.0.1/32"],
            "forwarded_header": "Forwarded",
        }
    }
    async with running_daemon(tmp_path, overrides) as d:
        for value, status in (
            ('for=10.9.9.9, for="203.0.113.7:4711"', 403),
            ('for=203.0.113.7, for="10.9.9.9:4711";proto=https', 200),
            ('for="[2001:db8::9]:443"', 200),
            ("for=unknown", 403),
            ("proto=https", 403),
        ):
            async with d.session.post(
                d.rpc_url + "/", json=START, headers={"Forwarded": value}
            ) as resp:
                assert resp.status == status, value
        both = CIMultiDict([("Forwarded", "for=203.0.113.7"), ("X-Forwarded-For", "10.9.9.9")])
        async with d.session.post(d.rpc_url + "/", json=START, headers=both) as resp:
            assert resp.status == 403  # a proxy speaking Forwarded is judged by Forwarded
        forged = CIMultiDict([("X-Forwarded-For", "10.9.9.9"), ("Forwarded", "for=203.0.113.7")])
        async with d.session.post(d.rpc_url + "/", json=START, headers=forged) as resp:
            assert resp.status == 403  # the client's own X-Forwarded-For never decides


async def test_ws_upgrades_with_a_foreign_origin_are_refused(tmp_path: Path) -> None:
    overrides = {"rpc": {"allowed_origins": ["https://admin.shop.example"]}}
    async with running_daemon(tmp_path, overrides) as d:
        for origin in ("https://evil.example", "null", "http://127.0.0.1:8889"):
            with pytest.raises(aiohttp.WSServerHandshakeError) as info:
                await d.session.ws_connect(d.rpc_url + "/ws", headers={"Origin": origin})
            assert info.value.status == 403, origin
        async with d.session.ws_connect(
            d.rpc_url + "/ws", headers={"Origin": "https://admin.shop.example"}
        ) as ws:
            await ws.send_json({"endpoint": "list_payments", "data": {}, "event": {"id": "a"}})
            assert (await ws.receive_json(timeout=10))["error"]["status"] is False
        assert (await d.ws_call("list_payments", {}))["error"]["status"] is False  # no Origin


@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain",
        "text/plain;charset=UTF-8",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        None,
    ],
)
async def test_json_rpc_posts_need_a_json_content_type(
    tmp_path: Path, content_type: str | None
) -> None:
    async with running_daemon(tmp_path) as d:
        created = await d.start_payment("1")
        cancel = {
            "jsonrpc": "2.0",
            "id": 2,
            "method": "cancel_payment",
            "params": {"id": created["id"]},
        }
        headers = {} if content_type is None else {"Content-Type": content_type}
        skip = ["Content-Type"] if content_type is None else []
        for path, body in (
            ("/", START),
            ("/", cancel),
            ("/api/v0/rpc/start_payment", START["params"]),
        ):
            async with d.session.post(
                d.rpc_url + path, data=json.dumps(body), headers=headers, skip_auto_headers=skip
            ) as resp:
                assert resp.status == 415, (path, body)
        assert await d.runtime.payments.count_by_status() == {"new": 1}
        status, reply = await d.post_raw(
            json.dumps(cancel), {"Content-Type": "application/json; charset=utf-8"}
        )
        assert status == 200 and reply["result"]["status"] == "canceled"


async def test_a_foreign_host_header_is_refused(tmp_path: Path) -> None:
    async with running_daemon(tmp_path, {"rpc": {"allowed_hosts": ["xbtcpay.internal"]}}) as d:
        port = d.rpc_url.rsplit(":", 1)[1]
        for host in (
            "evil.example",
            f"evil.example:{port}",
            "10.1.2.3",
            "[fd00::1]:1",
            "localhost.evil.example",
        ):
            async with d.session.post(d.rpc_url + "/", json=START, headers={"Host": host}) as resp:
                assert resp.status == 421, host
        for host in (
            f"127.0.0.1:{port}",
            f"localhost:{port}",
            "LOCALHOST",
            "127.0.0.2",
            "[::1]:1",
            f"xbtcpay.internal:{port}",
        ):
            async with d.session.post(d.rpc_url + "/", json=START, headers={"Host": host}) as resp:
                assert resp.status == 200, host
        assert (await d.runtime.payments.count_by_status()) == {"new": 6}


def test_a_wildcard_listener_takes_ip_literals_but_not_names() -> None:
    rpc = RpcConfig(Listen("0.0.0.0", 8889), (), ())
    names = allowed_hosts(rpc)
    assert host_allowed("10.1.2.3:8889", rpc, names) and host_allowed("[fd00::1]:8889", rpc, names)
    assert host_allowed("localhost:8889", rpc, names)
    assert not host_allowed("rebound.example:8889", rpc, names)


def test_a_named_or_lan_listener_takes_its_own_address() -> None:
    local = RpcConfig(Listen("localhost", 8889), (), ())
    assert host_allowed("127.0.0.1:8889", local, allowed_hosts(local))
    assert not host_allowed("10.0.0.5:8889", local, allowed_hosts(local))
    lan = RpcConfig(Listen("10.0.0.5", 8889), (), ())
    assert host_allowed("10.0.0.5:8889", lan, allowed_hosts(lan))
    assert not host_allowed("127.0.0.1:8889", lan, allowed_hosts(lan))
    assert not host_allowed("localhost:8889", lan, allowed_hosts(lan))

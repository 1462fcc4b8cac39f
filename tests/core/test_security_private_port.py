"""The private port against an outside attacker: forwarded headers, browsers, foreign Hosts."""

from __future__ import annotations

from pathlib import Path

from multidict import CIMultiDict

from tests.harness import running_daemon

START = {"jsonrpc": "2.0", "id": 1, "method": "start_payment", "params": {"amount": "1"}}


async def test_a_forged_forwarded_for_line_before_the_proxys_line_is_not_the_client(
        tmp_path: Path) -> None:
    """HAProxy's ``option forwardfor`` appends its own line after the client's forged one."""
    overrides = {"rpc": {"ip_whitelist": ["10.9.9.9/32"], "trusted_proxies": ["127.0.0.1/32"]}}
    async with running_daemon(tmp_path, overrides) as d:
        forged = CIMultiDict([("X-Forwarded-For", "10.9.9.9"),
                              ("X-Forwarded-For", "203.0.113.7")])
        async with d.session.post(d.rpc_url + "/", json=START, headers=forged) as resp:
            assert resp.status == 403
        honest = CIMultiDict([("X-Forwarded-For", "203.0.113.7"),
                              ("X-Forwarded-For", "10.9.9.9")])
        async with d.session.post(d.rpc_url + "/", json=START, headers=honest) as resp:
            assert resp.status == 200


async def test_the_forwarded_header_is_read_right_to_left_too(tmp_path: Path) -> None:
    overrides = {"rpc": {"ip_whitelist": ["10.9.9.9/32", "2001:db8::9/128"],
                         "trusted_proxies": ["127.0.0.1/32"]}}
    async with running_daemon(tmp_path, overrides) as d:
        for value, status in (('for=10.9.9.9, for="203.0.113.7:4711"', 403),
                              ('for=203.0.113.7, for="10.9.9.9:4711";proto=https', 200),
                              ('for="[2001:db8::9]:443"', 200),
                              ("for=unknown", 403), ("proto=https", 403)):
            async with d.session.post(d.rpc_url + "/", json=START,
                                      headers={"Forwarded": value}) as resp:
                assert resp.status == status, value
        both = CIMultiDict([("Forwarded", "for=203.0.113.7"), ("X-Forwarded-For", "10.9.9.9")])
        async with d.session.post(d.rpc_url + "/", json=START, headers=both) as resp:
            assert resp.status == 403  # a proxy speaking Forwarded is judged by Forwarded

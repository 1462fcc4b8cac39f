"""postback_url cannot aim the daemon at itself or at the operator's network (SSRF)."""

from __future__ import annotations

import socket
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.abc import AbstractResolver, ResolveResult

from tests.harness import PostbackReceiver, base_config, running_daemon, wait_until, write_config
from xbtcpay.app.config import parse_config
from xbtcpay.app.daemon import Daemon
from xbtcpay.core.models import PaymentEvent
from xbtcpay.core.postback_target import PrivateAddressRefused, postback_connector, refused_host
from xbtcpay.core.state import Event

STRICT = {"postback": {"allow_private": False}}
LOCAL_URLS = [
    "http://127.0.0.1:8889/",
    "http://127.9.9.9/",
    "http://localhost/x",
    "http://LocalHost./",
    "http://shop.localhost/",
    "http://[::1]:8889/",
    "http://[::ffff:127.0.0.1]/",
    "http://169.254.169.254/latest/meta-data/",
    "http://[fe80::1]/",
    "http://10.0.0.5/",
    "http://172.16.0.1/",
    "http://192.168.1.1/",
    "http://100.64.0.1/",
    "http://[fc00::1]/",
    "http://0.0.0.0/",
    "http://[::]/",
    "http://224.0.0.1/",
    "http://[ff02::1]/",
    "http://255.255.255.255/",
    "http://2130706433/",
    "http://0x7f.1/",
    "http://127.1/",
]


class StubResolver(AbstractResolver):
    """Answers every name with one address (a DNS rebinding to loopback)."""

    def __init__(self, address: str) -> None:
        self.address = address

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        return [
            {
                "hostname": host,
                "host": self.address,
                "port": port,
                "family": socket.AF_INET,
                "proto": 0,
                "flags": socket.AI_NUMERICHOST,
            }
        ]

    async def close(self) -> None:
        pass


@pytest.mark.parametrize("url", LOCAL_URLS)
def test_local_and_private_targets_are_recognised(url: str) -> None:
    host = url.split("/")[2].rsplit(":", 1)[0] if "]" not in url else url.split("/")[2]
    assert refused_host(host.split("]")[0] + ("]" if "]" in host else "")), url


@pytest.mark.parametrize("host", ["8.8.8.8", "[2606:4700::1111]", "shop.example", "pay.test"])
def test_public_addresses_and_names_pass_the_start_check(host: str) -> None:
    assert not refused_host(host)


async def test_start_payment_refuses_local_postback_urls_by_default(tmp_path: Path) -> None:
    async with running_daemon(tmp_path, STRICT) as d:
        for url in LOCAL_URLS:
            reply = await d.call("start_payment", {"amount": "1", "postback_url": url})
            assert reply["error"] == {
                "code": -32602,
                "message": "Invalid params: postback URL points to a local or private address",
            }, url
        http = await d.http_api(
            "start_payment", {"amount": "1", "postback_url": "http://127.0.0.1/"}
        )
        assert http["error"]["code"] == -32602
        ws = await d.ws_call("start_payment", {"amount": "1", "postback_url": "http://[::1]/"})
        assert ws["error"]["code"] == -32602
        assert await d.runtime.payments.count_by_status() == {}
        ok = await d.call(
            "start_payment", {"amount": "1", "postback_url": "https://shop.example/pb"}
        )
        assert "result" in ok


async def test_a_config_without_allow_private_refuses_a_loopback_postback_url(
    tmp_path: Path,
) -> None:
    """The real default, read by the real parser from a file that does not name the key."""
    raw = base_config(tmp_path)
    del raw["postback"]["allow_private"]
    config = parse_config(raw, write_config(tmp_path, raw))
    daemon = Daemon(config, watcher=False)
    await daemon.start()
    try:
        async with aiohttp.ClientSession() as session:
            body = {
                "jsonrpc": "2.0",
                "id": 1,
                "method": "start_payment",
                "params": {"amount": "1", "postback_url": "http://127.0.0.1:8889/pb"},
            }
            async with session.post(f"http://127.0.0.1:{daemon.rpc_port}/", json=body) as resp:
                reply = await resp.json()
        assert reply["error"] == {
            "code": -32602,
            "message": "Invalid params: postback URL points to a local or private address",
        }
        assert daemon.parts is not None
        assert await daemon.parts.payments.count_by_status() == {}
    finally:
        await daemon.stop()


async def test_delivery_to_a_private_address_is_refused_after_the_setting_changed(
    tmp_path: Path, receiver: PostbackReceiver
) -> None:
    """A payment accepted while allow_private was on is never posted to loopback once off."""
    async with running_daemon(tmp_path) as d:  # the harness turns allow_private on
        pid = (await d.start_payment("1", postback_url=receiver.url))["id"]
    async with running_daemon(tmp_path, STRICT) as d:
        await d.processor.apply(
            pid,
            PaymentEvent(
                Event.SEEN, amount_received=Decimal(1), tx_hash="0x" + "ab" * 32, tx_block=3
            ),
        )
        await d.processor.apply(pid, PaymentEvent(Event.PAID))
        [pb] = await wait_until(lambda: _attempted(d, pid))
        [attempt] = (await d.runtime.postbacks.attempts(pb.id))[:1]
        assert "127.0.0.1 is not a public address" in attempt["error"]
        assert attempt["http_status"] is None and receiver.attempts == 0


async def _attempted(d: Any, pid: str) -> Any:
    rows = await d.runtime.postbacks.search(payment_id=pid)
    return rows if rows and rows[0].attempts > 0 else None


@pytest.mark.parametrize("url_host", ["localhost", "shop.example"])
async def test_a_name_resolving_to_loopback_is_refused_at_connect(
    receiver: PostbackReceiver, url_host: str
) -> None:
    resolver = StubResolver("127.0.0.1") if url_host != "localhost" else None
    async with aiohttp.ClientSession(connector=postback_connector(False, resolver)) as s:
        with pytest.raises(aiohttp.ClientConnectorError) as info:
            await s.post(f"http://{url_host}:{receiver.port}/postback", data=b"{}")
        assert isinstance(info.value.os_error, PrivateAddressRefused)
    assert receiver.attempts == 0
    async with (
        aiohttp.ClientSession(connector=postback_connector(True, resolver)) as s,
        s.post(f"http://{url_host}:{receiver.port}/postback", data=b"{}") as resp,
    ):
        assert resp.status == 200 and receiver.attempts == 1


UNSENDABLE_OR_MARKUP_URLS = [
    "http://\\127.0.0.1:8889/",
    "http://127.0.0.1\\@example.com/",
    "https://shop.example\\@127.0.0.1/",
    'https://shop.example/"onmouseover="x',
    "https://shop.example/<script>",
    "https://shop.example/a>b",
    "https://shop.example/a\\b",
    "https://shop.example/a b",
    "https://shop.example/a\tb",
    "https://shop.example/a\x7fb",
    "https://shop.example/a\u2028b",
]


async def test_urls_the_client_cannot_send_or_that_carry_markup_are_refused(
    tmp_path: Path,
) -> None:
    """``urlsplit`` and aiohttp read ``http://\\127.0.0.1/`` differently: refuse, never retry."""
    async with running_daemon(tmp_path, STRICT) as d:
        for url in UNSENDABLE_OR_MARKUP_URLS:
            reply = await d.call("start_payment", {"amount": "1", "postback_url": url})
            assert reply["error"] == {
                "code": -32602,
                "message": "Invalid params: invalid postback URL",
            }, url
            reply = await d.call("start_payment", {"amount": "1", "return_url": url})
            assert reply["error"] == {
                "code": -32602,
                "message": "Invalid params: invalid return_url (an http or https URL)",
            }, url
        assert await d.runtime.payments.count_by_status() == {}
        ok = await d.call(
            "start_payment",
            {
                "amount": "1",
                "postback_url": "https://shop.example/pb?a=1&b=%20",
                "return_url": "https://shop.example/thanks#done",
            },
        )
        assert "result" in ok


async def test_a_refused_start_payment_is_logged_at_info_with_the_reason_and_no_secrets(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A shop developer whose call failed finds why in the daemon's log."""
    async with running_daemon(tmp_path, STRICT) as d:
        capsys.readouterr()
        url = "http://shop:pb-password-4711@10.0.0.5/pb"
        reply = await d.call("start_payment", {"amount": "1", "postback_url": url})
        assert reply["error"]["code"] == -32602
        http = await d.http_api("start_payment", {"amount": "1", "postback_url": url})
        assert http["error"]["code"] == -32602
        secret = d.config.postback.secret.reveal()
    out = capsys.readouterr().out
    refused = [line for line in out.splitlines() if "rpc.refused" in line]
    assert len(refused) == 2, out
    for line, transport in zip(refused, ("jsonrpc", "http"), strict=True):
        assert "[info" in line, line
        assert "method=start_payment" in line and f"transport={transport}" in line, line
        assert "postback URL points to a local or private address" in line, line
        assert "code=-32602" in line and "client=127.0.0.1" in line, line
    assert "pb-password-4711" not in out and secret not in out

"""ChainClient against a real anvil, directly and through a misbehaving loopback proxy."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from tests.fixtures.chain import DevChain
from xbtcpay.chain import devchain
from xbtcpay.chain.anvil import free_port
from xbtcpay.chain.client import (
    BlockNotFound,
    ChainClient,
    NodeError,
    RangeTooLarge,
    Unavailable,
    parse_retry_after,
    redact,
)

TRANSFER = "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef"
DEPOSIT = "0xBcd4042DE499D14e55001CcbB24a551F3b954096"  # dev index 10, unfunded

Fault = Callable[[dict[str, Any] | list[Any], bytes], Awaitable[web.StreamResponse]]


@dataclass
class Proxy:
    """Forwards JSON-RPC to anvil; ``faults`` are applied to the next requests, in order."""

    upstream: str
    faults: list[str] = field(default_factory=list)
    seen: list[str] = field(default_factory=list)
    retry_after: str = "1"
    url: str = ""

    async def handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        payload = json.loads(raw)
        self.seen.append(payload["method"] if isinstance(payload, dict) else "batch")
        fault = self.faults.pop(0) if self.faults else "ok"
        if fault == "dead":  # close the connection without any answer
            assert request.transport is not None
            request.transport.close()
            return web.Response()
        if fault == "429":
            return web.Response(status=429, headers={"Retry-After": self.retry_after})
        if fault == "500":
            return web.Response(status=500, text="upstream exploded")
        if fault == "timeout":
            await asyncio.sleep(2)
        if fault == "invalid":
            return web.Response(text="<html>bad gateway</html>", content_type="text/html")
        if fault == "range":
            return web.json_response(
                {
                    "jsonrpc": "2.0",
                    "id": payload["id"],
                    "error": {"code": -32005, "message": "query returned more than 10000 results"},
                }
            )
        if fault == "range-message":
            return web.json_response(
                {
                    "jsonrpc": "2.0",
                    "id": payload["id"],
                    "error": {
                        "code": -32000,
                        "message": "eth_getLogs block range too large, max 500",
                    },
                }
            )
        body = await self._forward(raw)
        if fault == "truncated":
            body = body[: len(body) // 2]
        if fault == "wrong-id":
            answer = json.loads(body)
            answer["id"] = 999_999
            body = json.dumps(answer).encode()
        if fault == "short-batch":
            body = json.dumps(json.loads(body)[:-1]).encode()
        return web.Response(body=body, content_type="application/json")

    async def _forward(self, raw: bytes) -> bytes:
        async with (
            aiohttp.ClientSession() as session,
            session.post(
                self.upstream, data=raw, headers={"Content-Type": "application/json"}
            ) as resp,
        ):
            return await resp.read()


@pytest.fixture
async def proxy(chain: DevChain) -> AsyncIterator[Proxy]:
    """A loopback proxy to the session anvil that can misbehave on demand."""
    proxy = Proxy(upstream=chain.url)
    app = web.Application()
    app.router.add_post("/", proxy.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    proxy.url = f"http://127.0.0.1:{port}/"
    yield proxy
    await runner.cleanup()


def dead_url() -> str:
    return f"http://127.0.0.1:{free_port()}/"


async def test_typed_calls_against_anvil(chain: DevChain) -> None:
    client = chain.client
    assert await client.chain_id() == 31337
    head = await client.block_number()
    latest = await client.get_block("latest")
    assert latest is not None and latest["number"] == head
    assert isinstance(latest["timestamp"], int)
    by_hash = await client.get_block(latest["hash"])
    assert by_hash is not None and by_hash["number"] == head
    for tag in ("safe", "finalized"):
        block = await client.get_block(tag)
        assert block is not None and 0 <= block["number"] <= head
    assert await client.get_block(head + 1000) is None


async def test_get_blocks_is_one_batch_request(chain: DevChain) -> None:
    await chain.mine(5)
    head = await chain.block_number()
    before = chain.client.calls_total
    blocks = await chain.client.get_blocks(list(range(head - 4, head + 1)))
    assert [b["number"] for b in blocks] == list(range(head - 4, head + 1))
    assert all(b["parentHash"] == a["hash"] for a, b in itertools.pairwise(blocks))
    assert chain.client.calls_total == before + 1
    assert chain.client.calls["batch:eth_getBlockByNumber"] >= 1
    with pytest.raises(BlockNotFound):
        await chain.client.get_blocks([head, head + 50])


async def test_get_logs_decodes_numbers(chain: DevChain) -> None:
    tx = await chain.pay_tokens(DEPOSIT, 150_000_000)
    head = await chain.block_number()
    logs = await chain.client.get_logs(head, head, [chain.token.lower()], [TRANSFER])
    assert len(logs) == 1
    entry = logs[0]
    assert entry["transactionHash"] == tx
    assert entry["blockNumber"] == head and entry["logIndex"] == 0
    assert int(entry["topics"][2], 16) == int(DEPOSIT, 16)
    assert int(entry["data"], 16) == 150_000_000
    assert await chain.client.get_logs(head, head, [chain.token], [TRANSFER]) == logs


async def test_balances_are_one_batch_each(chain: DevChain) -> None:
    await chain.pay_tokens(DEPOSIT, 42)
    await chain.pay_eth(DEPOSIT, 7)
    other = devchain.dev_key(11).address
    before = chain.client.calls.copy()
    tokens = await chain.client.erc20_balances(chain.token, [DEPOSIT, other], "latest")
    eth = await chain.client.eth_balances([DEPOSIT, other], await chain.block_number())
    assert tokens == {DEPOSIT: 42, other: 0}
    assert eth == {DEPOSIT: 7, other: 0}
    spent = chain.client.calls - before
    assert spent == {"batch:eth_call": 1, "batch:eth_getBalance": 1, "eth_blockNumber": 1}
    assert await chain.client.batch([]) == []


async def test_node_errors_are_not_retried(chain: DevChain) -> None:
    before = chain.client.calls_total
    with pytest.raises(NodeError) as caught:
        await chain.client.call("eth_noSuchMethod", [])
    assert caught.value.code == -32601
    assert not isinstance(caught.value, RangeTooLarge)
    assert chain.client.calls_total == before + 1
    with pytest.raises(NodeError):
        await chain.client.batch([("eth_blockNumber", []), ("eth_noSuchMethod", [])])


async def test_failover_past_a_dead_url_and_stick(chain: DevChain) -> None:
    async with ChainClient([dead_url(), chain.url], backoff_base=0.01) as client:
        assert await client.chain_id() == 31337
        assert client.calls_total == 2  # the dead url, then anvil
        assert client.url == chain.url
        await client.block_number()
        assert client.calls_total == 3  # stays on the healthy url


@pytest.mark.parametrize("fault", ["500", "timeout", "truncated", "invalid", "wrong-id", "dead"])
async def test_bad_answers_are_retried(proxy: Proxy, fault: str) -> None:
    proxy.faults = [fault]
    async with ChainClient([proxy.url], timeout=0.5, backoff_base=0.01) as client:
        assert await client.chain_id() == 31337
        assert proxy.seen == ["eth_chainId", "eth_chainId"]
        assert client.calls == {"eth_chainId": 2}


async def test_truncated_batch_is_retried(proxy: Proxy, chain: DevChain) -> None:
    proxy.faults = ["short-batch"]
    async with ChainClient([proxy.url], backoff_base=0.01) as client:
        balances = await client.eth_balances([DEPOSIT, chain.payer.address], "latest")
        assert balances[DEPOSIT] == 0 and balances[chain.payer.address] > 0
        assert client.calls == {"batch:eth_getBalance": 2}


async def test_429_waits_for_retry_after(proxy: Proxy) -> None:
    proxy.faults = ["429"]
    async with ChainClient([proxy.url], backoff_base=0.01) as client:
        started = time.monotonic()
        assert await client.block_number() >= 0
        assert time.monotonic() - started >= 0.95
        assert proxy.seen == ["eth_blockNumber", "eth_blockNumber"]


async def test_rate_limited_url_is_skipped_during_retry_after(
    proxy: Proxy, chain: DevChain
) -> None:
    proxy.faults = ["429"]
    proxy.retry_after = "20"
    second = Proxy(upstream=chain.url)
    app = web.Application()
    app.router.add_post("/", second.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    second.url = f"http://127.0.0.1:{runner.addresses[0][1]}/"
    try:
        async with ChainClient([proxy.url, second.url], backoff_base=0.01) as client:
            await client.block_number()
            second.faults = ["500"]
            await client.block_number()  # second fails once; the limited url stays unused
            await client.chain_id()
        assert proxy.seen == ["eth_blockNumber"]
        assert second.seen == [
            "eth_blockNumber",
            "eth_blockNumber",
            "eth_blockNumber",
            "eth_chainId",
        ]
    finally:
        await runner.cleanup()


async def test_unavailable_after_max_attempts() -> None:
    async with ChainClient([dead_url(), dead_url()], max_attempts=4, backoff_base=0.01) as client:
        with pytest.raises(Unavailable, match="after 4 attempts"):
            await client.block_number()
        assert client.calls_total == 4


async def test_backoff_grows_once_every_url_failed() -> None:
    async with ChainClient([dead_url()], max_attempts=4, backoff_base=0.1) as client:
        started = time.monotonic()
        with pytest.raises(Unavailable):
            await client.block_number()
        # three sleeps between four tries: >= (0.1 + 0.2 + 0.4) * 0.5 with jitter
        assert time.monotonic() - started >= 0.35


@pytest.mark.parametrize("fault", ["range", "range-message"])
async def test_range_too_large(proxy: Proxy, chain: DevChain, fault: str) -> None:
    proxy.faults = [fault]
    async with ChainClient([proxy.url]) as client:
        with pytest.raises(RangeTooLarge) as caught:
            await client.get_logs(0, 100_000, [chain.token], [TRANSFER])
        assert "10000" in caught.value.message or "range" in caught.value.message
        tx = await chain.pay_tokens(DEPOSIT, 12_345)
        head = await chain.block_number()
        logs = await client.get_logs(head, head, [chain.token], [TRANSFER])
        assert [(log["transactionHash"], int(log["data"], 16)) for log in logs] == [(tx, 12_345)]


async def test_new_heads_yields_block_numbers(chain: DevChain) -> None:
    heads = chain.client.new_heads(chain.ws_url)
    first = asyncio.ensure_future(heads.__anext__())
    await asyncio.sleep(0.2)  # let the subscription start before mining
    await chain.mine(1)
    head = await chain.block_number()
    assert await asyncio.wait_for(first, 5) == head
    await chain.mine(1)
    assert await asyncio.wait_for(heads.__anext__(), 5) == head + 1
    await heads.aclose()  # type: ignore[attr-defined]


async def test_session_can_be_shared(chain: DevChain) -> None:
    async with aiohttp.ClientSession() as session:
        client = ChainClient([chain.url], session=session)
        assert await client.chain_id() == 31337
        await client.close()
        assert not session.closed  # the owner closes it, not the client


def test_needs_an_http_url() -> None:
    with pytest.raises(ValueError):
        ChainClient(["ws://127.0.0.1:8545"])


def test_retry_after_parsing() -> None:
    from email.utils import formatdate

    assert parse_retry_after("5") == 5
    assert parse_retry_after(None) == 1.0
    assert parse_retry_after("soon") == 1.0
    assert parse_retry_after("-3") == 0
    assert 8 <= parse_retry_after(formatdate(time.time() + 10, usegmt=True)) <= 10
    assert parse_retry_after("99999999") == 3600


def test_urls_are_redacted_for_logs() -> None:
    assert redact("https://mainnet.example.io/v3/SECRETKEY?x=1") == "https://mainnet.example.io"
    assert redact("http://user:pw@127.0.0.1:8545/") == "http://127.0.0.1:8545"

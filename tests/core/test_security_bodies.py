"""Request bodies are read to the end, up to rpc.max_body exactly; 413 above it, chunked too."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.harness import running_daemon

LIMIT = 1_048_576
JSON = {"Content-Type": "application/json"}


@pytest.fixture
async def d(tmp_path: Path) -> Any:
    async with running_daemon(tmp_path) as handle:
        yield handle


def _padded(size: int) -> bytes:
    call = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "list_payments", "params": {}})
    return (call + " " * (size - len(call))).encode()


async def _chunked(body: bytes) -> AsyncIterator[bytes]:
    for at in range(0, len(body), 16384):
        yield body[at : at + 16384]


async def test_a_valid_609_kb_batch_is_answered(d: Any) -> None:
    batch = [
        {
            "jsonrpc": "2.0",
            "id": n,
            "method": "start_payment",
            "params": {"amount": "1", "data": {"note": "x" * 6000}},
        }
        for n in range(100)
    ]
    body = json.dumps(batch).encode()
    assert 600_000 < len(body) < LIMIT
    status, replies = await d.post_raw(body, JSON)
    assert status == 200 and len(replies) == 100
    assert all("result" in reply for reply in replies)


@pytest.mark.parametrize("chunked", [False, True])
async def test_a_body_of_exactly_max_body_is_read_and_one_byte_more_is_413(
    d: Any, chunked: bool
) -> None:
    for size, status in ((LIMIT, 200), (LIMIT + 1, 413)):
        body = _padded(size)
        data: Any = _chunked(body) if chunked else body
        async with d.session.post(d.rpc_url + "/", data=data, headers=JSON) as resp:
            assert resp.status == status, (size, chunked)
            reply = await resp.json()
        assert ("result" in reply) == (status == 200)


async def test_a_2_mb_chunked_body_is_413_on_both_rpc_routes(d: Any) -> None:
    body = _padded(2 * LIMIT)
    for path in ("/", "/api/v0/rpc/list_payments"):
        async with d.session.post(d.rpc_url + path, data=_chunked(body), headers=JSON) as resp:
            assert resp.status == 413, path

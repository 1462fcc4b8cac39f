"""The review's "also noted" points, as decided (docs/RELIABILITY.md, Security)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.harness import running_daemon
from xbtcpay.core.amounts import parse_amount


async def test_public_healthz_gives_the_verdict_only_and_the_private_one_the_details(
    tmp_path: Path,
) -> None:
    async with running_daemon(tmp_path) as d:
        async with d.session.get(d.public_url + "/healthz") as resp:
            assert resp.status == 200 and await resp.json() == {"status": "ok"}
        async with d.session.get(d.rpc_url + "/healthz") as resp:
            body = await resp.json()
        assert set(body["checks"]) == {"database", "chain", "cluster"}
        assert "head" in body["checks"]["chain"]
        assert set(body["checks"]["cluster"]) == {"replica", "leader", "term", "is_leader"}


@pytest.mark.parametrize("amount", ["1\n", "1.5\n", " 1", "1 ", "1\t", "\n1", "1\r\n"])
async def test_amounts_with_whitespace_are_refused_like_any_other_non_digit(
    tmp_path: Path, amount: str
) -> None:
    assert parse_amount(amount, decimals=8, max_amount=None) is None
    async with running_daemon(tmp_path) as d:
        reply = await d.call("start_payment", {"amount": amount})
        assert reply["error"] == {"code": -32602, "message": "Invalid params: invalid amount"}

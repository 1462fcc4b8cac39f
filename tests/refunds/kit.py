"""Refund tests' helpers: a daemon on the test chain with rates, and paid payments."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from tests.chain.watching import ETH_ASSET, Watch, units, watching
from tests.fixtures.chain import DevChain
from tests.harness import deep_merge

RATES = {"sources": {"peg": {"type": "fixed", "rates": {"0xbtc/USD": "2.5", "eth/USD": "3000"}}}}


@asynccontextmanager
async def refunds_server(
    tmp_path: Path, chain: DevChain, extra: dict[str, Any] | None = None
) -> AsyncIterator[Watch]:
    """A daemon watching the test chain, 0xBTC and ETH configured, fixed USD rates."""
    base = {"assets": ETH_ASSET, "rates": RATES}
    async with watching(tmp_path, chain, deep_merge(base, extra or {})) as w:
        yield w


async def paid(w: Watch, amount: str = "4", pay: str | None = None) -> dict[str, Any]:
    """A 0xBTC payment paid with ``pay`` (default: the amount) and confirmed."""
    payment = await w.pay_request(amount)
    await w.chain.pay_tokens(payment["address"], units(pay or amount))
    await w.chain.mine(3)
    await w.until(payment["id"], "paid", timeout=60)
    return payment


async def create(w: Watch, **params: Any) -> dict[str, Any]:
    """refund.create that must succeed."""
    reply = await w.d.call("refund.create", params)
    assert "result" in reply, reply
    result: dict[str, Any] = reply["result"]
    return result


async def refused(w: Watch, method: str, **params: Any) -> str:
    """The message of a call that must be refused with a JSON-RPC error."""
    reply = await w.d.call(method, params)
    assert "error" in reply, reply
    message: str = reply["error"]["message"]
    return message


async def refunded_units(w: Watch, payment_id: str) -> int:
    """Units held by the payment's refunds that are not canceled or failed."""
    reply = await w.d.call("refund.list", {"payment": payment_id})
    return sum(
        units(r["amount"])
        for r in reply["result"]["refunds"]
        if r["status"] not in ("canceled", "failed")
    )

"""Refund tests' helpers: a daemon on the test chain with rates, and paid payments."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount

from tests.chain.watching import ETH_ASSET, Watch, units, watching
from tests.fixtures.chain import DevChain
from tests.harness import deep_merge, wait_until

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


def payout_wallet() -> LocalAccount:
    """A fresh payout hot wallet (funded by the test, as the merchant funds it)."""
    account: LocalAccount = Account.create()
    return account


def wallet_payouts(
    key: LocalAccount, per_refund: str = "2", daily: str = "3", **extra: Any
) -> dict[str, Any]:
    """The ``payouts:`` section of a wallet payout config, limits on 0xBTC and ETH."""
    return {
        "payouts": {
            "method": "wallet",
            "wallet_key": key.key.hex(),
            "max_per_refund": {"0xbtc": per_refund, "eth": "0.5"},
            "daily_limit": {"0xbtc": daily, "eth": "1"},
            **extra,
        }
    }


async def fund(w: Watch, address: str, tokens: str = "10") -> None:
    await w.chain.pay_eth(address, 10**18)
    await w.chain.pay_tokens(address, units(tokens))


async def refund_status(
    w: Watch, refund_id: str, status: str, timeout: float = 30
) -> dict[str, Any]:
    """Wait until the refund reaches ``status``; fails with its last state."""

    async def check() -> dict[str, Any] | None:
        got: dict[str, Any] = (await w.d.call("refund.get", {"refund": refund_id}))["result"]
        return got if got["status"] == status else None

    try:
        return await wait_until(check, timeout)  # type: ignore[no-any-return]
    except TimeoutError:
        got = (await w.d.call("refund.get", {"refund": refund_id}))["result"]
        raise AssertionError(f"expected {status}: {got}") from None

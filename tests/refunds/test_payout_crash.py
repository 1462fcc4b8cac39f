"""kill -9 while a wallet payout is on its way: the signed transaction was recorded before
it was broadcast, so the restarted daemon sends the same bytes again (even to a node that
forgot them) and the customer is paid exactly once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp

from tests.chain.watching import ETH_ASSET, chain_overrides, units
from tests.fixtures.chain import DevChain
from tests.harness import DaemonProcess, base_config, deep_merge, wait_until, write_config
from tests.refunds.kit import payout_wallet, wallet_payouts

CUSTOMER = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"


async def rpc(http: aiohttp.ClientSession, d: DaemonProcess, method: str, **params: Any) -> Any:
    body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
    async with http.post(d.rpc_url + "/", json=body) as resp:
        return await resp.json()


async def test_kill_9_during_a_payout_sends_nothing_twice(tmp_path: Path, chain: DevChain) -> None:
    key = payout_wallet()
    await chain.pay_eth(key.address, 10**18)
    await chain.pay_tokens(key.address, units("5"))
    extra = deep_merge({"assets": ETH_ASSET}, wallet_payouts(key))
    raw = base_config(tmp_path, chain_overrides(chain, await chain.block_number() + 1, extra))
    daemon = DaemonProcess(write_config(tmp_path, raw))
    await daemon.start()
    try:
        async with aiohttp.ClientSession() as http:
            payment = (await rpc(http, daemon, "start_payment", amount="1"))["result"]
            await chain.pay_tokens(payment["address"], units("1"))
            await chain.mine(3)

            async def paid() -> bool:
                got = await rpc(http, daemon, "get_payment", id=payment["id"])
                return bool(got["result"]["status"] == "paid")

            await wait_until(paid, 60)
            before = await chain.token_balance(CUSTOMER)
            created = await rpc(
                http,
                daemon,
                "refund.create",
                payment=payment["id"],
                amount="1",
                address=CUSTOMER,
                reason="canceled",
            )
            refund = created["result"]["id"]
            await chain.set_automine(False)
            approved = await rpc(http, daemon, "refund.approve", refund=refund)
            assert approved["result"]["status"] == "sent", approved
            daemon.kill9()
            # the worst case: the node lost the transaction with the daemon
            await chain.client.call("anvil_dropAllTransactions", [])
            await chain.set_automine(True)
            await daemon.start()

            async def status(wanted: str) -> bool:
                got = await rpc(http, daemon, "refund.get", refund=refund)
                return bool(got["result"]["status"] == wanted)

            async def received() -> bool:
                return await chain.token_balance(CUSTOMER) - before == units("1")

            await wait_until(received, 30)  # re-sent by the restarted daemon
            await chain.mine(3)
            await wait_until(lambda: status("confirmed"), 30)
            again = await rpc(http, daemon, "refund.approve", refund=refund)
            assert "refund is confirmed" in again["error"]["message"]
            daemon.kill9()
            await daemon.start()  # and once more: a confirmed payout is never sent again
            await chain.mine(3)
            got = await rpc(http, daemon, "get_payment", id=payment["id"])
            assert got["result"]["status"] == "refunded"
            assert await chain.token_balance(CUSTOMER) - before == units("1")
            nonce = await chain.client.call("eth_getTransactionCount", [key.address, "latest"])
            assert nonce == "0x1"  # one payout transaction, ever
    finally:
        daemon.terminate()

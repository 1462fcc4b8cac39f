"""An acknowledged purchase survives kill -9: its debit, receipt and recorded answer."""

from __future__ import annotations

from pathlib import Path

import aiohttp

from tests.commerce.setup import check_ledger, commerce
from tests.harness import DaemonProcess, base_config, write_config


async def rpc(
    session: aiohttp.ClientSession, url: str, method: str, params: dict[str, object]
) -> dict[str, object]:
    async with session.post(
        url + "/", json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
    ) as resp:
        reply = await resp.json()
    assert "result" in reply, reply
    return dict(reply["result"])


async def test_an_acknowledged_purchase_survives_kill_9(tmp_path: Path) -> None:
    daemon = DaemonProcess(write_config(tmp_path, base_config(tmp_path, commerce())))
    await daemon.start()
    purchase = {
        "customer": "alice",
        "product": "gem_pack",
        "use_balance": True,
        "currency": "AUD",
        "purchase_token": "tok-durable-01",
    }
    try:
        async with aiohttp.ClientSession() as session:
            await rpc(
                session,
                daemon.rpc_url,
                "balance.adjust",
                {
                    "customer": "alice",
                    "currency": "AUD",
                    "amount": "20.00",
                    "reason": "gift",
                    "idempotency_key": "gift-alice-01",
                },
            )
            answer = await rpc(session, daemon.rpc_url, "payment.purchase", purchase)
            assert answer["PaymentResponse"] == "Success"
        daemon.kill9()
        await daemon.start()
        async with aiohttp.ClientSession() as session:
            again = await rpc(session, daemon.rpc_url, "payment.purchase", purchase)
            balance = await rpc(session, daemon.rpc_url, "balance.get", {"customer": "alice"})
        assert again == answer
        assert balance["balances"] == [
            {"currency": "AUD", "amount": "9.00", "amount_minor": 900, "negative": False}
        ]
    finally:
        daemon.terminate()
    check_ledger(tmp_path)

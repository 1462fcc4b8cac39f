"""Acknowledged finishes and voucher redemptions survive kill -9 (a real daemon process)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp

from tests.commerce.media import MEDIA_CONFIG
from tests.harness import DaemonProcess, base_config, write_config


async def rpc(
    session: aiohttp.ClientSession, url: str, method: str, params: dict[str, Any]
) -> dict[str, Any]:
    async with session.post(
        url + "/", json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
    ) as resp:
        reply = await resp.json()
    assert "result" in reply, reply
    return dict(reply["result"])


async def test_acknowledged_finishes_and_redemptions_survive_kill_9(tmp_path: Path) -> None:
    daemon = DaemonProcess(write_config(tmp_path, base_config(tmp_path, MEDIA_CONFIG)))
    await daemon.start()
    try:
        async with aiohttp.ClientSession() as session:
            url = daemon.rpc_url
            await rpc(
                session,
                url,
                "voucher.create",
                {"code": "KILL-NINE", "grants": {"product": "movie42"}, "max_uses": 1},
            )
            prepared = [
                await rpc(
                    session,
                    url,
                    "payment.preparetransaction",
                    {
                        "customer": f"k{i}",
                        "operation": "ppv",
                        "item": 42,
                        "amount": 199,
                        "currency": "EUR",
                        "provider": "stripe",
                    },
                )
                for i in range(20)
            ]
            finished = await asyncio.gather(
                *(
                    rpc(
                        session,
                        url,
                        "payment.finishtransaction",
                        {"customer": f"k{i}", "transactionID": p["transactionID"]},
                    )
                    for i, p in enumerate(prepared)
                )
            )
            redeemed = await rpc(
                session,
                url,
                "payment.redeemvoucher",
                {"customer": "k-voucher", "vouchercode": "KILL-NINE"},
            )
        daemon.kill9()  # right after the last answer
        await daemon.start()
        async with aiohttp.ClientSession() as session:
            url = daemon.rpc_url
            again = await asyncio.gather(
                *(
                    rpc(
                        session,
                        url,
                        "payment.finishtransaction",
                        {"customer": f"k{i}", "transactionID": p["transactionID"]},
                    )
                    for i, p in enumerate(prepared)
                )
            )
            states = await asyncio.gather(
                *(
                    rpc(session, url, "payment.itemstate", {"customer": c, "item": 42})
                    for c in [f"k{i}" for i in range(20)] + ["k-voucher"]
                )
            )
            async with session.post(
                url + "/",
                json={
                    "jsonrpc": "2.0",
                    "id": 1,
                    "method": "payment.redeemvoucher",
                    "params": {"customer": "k-other", "vouchercode": "KILL-NINE"},
                },
            ) as resp:
                second = await resp.json()
        assert again == finished  # same answers: nothing lost or redone
        assert all(s["access"] for s in states), states
        assert redeemed["redeemed"] and second["error"]["message"].endswith("used up")
    finally:
        daemon.terminate()

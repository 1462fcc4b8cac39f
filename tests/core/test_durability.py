"""An acknowledged start_payment survives kill -9; addresses are never reused."""

from __future__ import annotations

from pathlib import Path

import aiohttp

from tests.harness import DaemonProcess, base_config, write_config


async def _start_payment(session: aiohttp.ClientSession, url: str, amount: str) -> dict:
    body = {"jsonrpc": "2.0", "id": 1, "method": "start_payment", "params": {"amount": amount}}
    async with session.post(url + "/", json=body) as resp:
        return dict((await resp.json())["result"])


async def test_kill_9_right_after_start_payment_keeps_the_payment(tmp_path: Path) -> None:
    path = write_config(tmp_path, base_config(tmp_path))
    daemon = DaemonProcess(path)
    await daemon.start()
    try:
        async with aiohttp.ClientSession() as session:
            created = [await _start_payment(session, daemon.rpc_url, str(i + 1))
                       for i in range(5)]
            daemon.kill9()  # immediately after the last acknowledgement
            await daemon.start()
            for payment in created:
                async with session.get(f"{daemon.public_url}/{payment['id']}/status.json") as r:
                    assert r.status == 200
                    doc = await r.json()
                    assert doc["address"] == payment["address"]
                    assert doc["amount"] == payment["amount"]
            after = await _start_payment(session, daemon.rpc_url, "9")
            assert after["address"] not in {p["address"] for p in created}
    finally:
        daemon.terminate()


async def test_sigterm_stops_gracefully(tmp_path: Path) -> None:
    path = write_config(tmp_path, base_config(tmp_path))
    daemon = DaemonProcess(path)
    await daemon.start()
    assert daemon.terminate() == 0
    assert "Traceback" not in daemon.log_path.read_text()

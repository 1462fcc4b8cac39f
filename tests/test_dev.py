"""The README's run command: `xbtcpay dev` shows new -> seen -> paid with a postback."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import yaml

from tests.harness import base_config, free_port


async def test_dev_cycle_with_dev_pay(tmp_path: Path) -> None:
    """Ports and the dev chain's port from options; ``dev pay`` from another folder via -c."""
    raw = base_config(tmp_path)
    del raw["rpc"]["listen"], raw["public"]["listen"]
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(raw))
    rpc_port, public_port, anvil_port = free_port(), free_port(), free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    log = open(tmp_path / "dev.log", "w")  # noqa: SIM115 - closed in the finally below
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "xbtcpay",
            "-c",
            "config.yaml",
            "dev",
            "--anvil-port",
            str(anvil_port),
            "--rpc-listen",
            f"127.0.0.1:{rpc_port}",
            "--public-listen",
            f"127.0.0.1:{public_port}",
        ],
        cwd=tmp_path,
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    try:
        state_path = tmp_path / "var" / "dev-state.json"
        deadline = time.monotonic() + 60
        while not state_path.exists():
            assert proc.poll() is None, (tmp_path / "dev.log").read_text()
            assert time.monotonic() < deadline, "xbtcpay dev did not start"
            await asyncio.sleep(0.2)
        await asyncio.sleep(0.3)
        output = (tmp_path / "dev.log").read_text()
        assert "curl -s -X POST" in output and "xbtcpay dev pay <payment id>" in output
        assert "/admin/" in output and "admin create-user admin --role admin" in output
        state = json.loads(state_path.read_text())
        assert (state["rpc"], state["public"], state["anvil"]) == (
            f"http://127.0.0.1:{rpc_port}",
            f"http://127.0.0.1:{public_port}",
            f"http://127.0.0.1:{anvil_port}",
        )
        dev_config = tmp_path / "var" / "dev-config.yaml"
        assert f"xbtcpay -c {dev_config} dev pay <payment id>" in output
        lost = subprocess.run(
            [sys.executable, "-m", "xbtcpay", "dev", "pay", "x" * 23],
            cwd=elsewhere,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert lost.returncode == 1 and "no dev chain found" in lost.stdout
        receiver = output.split("postbacks print here (receiver ")[1].split(")")[0]
        started = time.monotonic()
        async with aiohttp.ClientSession() as session:
            body = {
                "jsonrpc": "2.0",
                "id": 1,
                "method": "start_payment",
                "params": {"amount": "1.5", "postback_url": receiver},
            }
            async with session.post(state["rpc"] + "/", json=body) as resp:
                pid = (await resp.json())["result"]["id"]
            page_url = f"{state['public']}/pay/{pid}"
            deadline = time.monotonic() + 10
            while f"checkout page {page_url}" not in (tmp_path / "dev.log").read_text():
                assert time.monotonic() < deadline, "no checkout page URL printed"
                await asyncio.sleep(0.1)
            async with session.get(page_url) as resp:
                assert resp.status == 200 and "Pay 1.5 0xBTC" in await resp.text()
            paid = subprocess.run(
                [sys.executable, "-m", "xbtcpay", "-c", str(dev_config), "dev", "pay", pid],
                cwd=elsewhere,
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert paid.returncode == 0, paid.stdout + paid.stderr
            assert "sent 1.5 0xbtc" in paid.stdout
            seen_statuses = []
            while time.monotonic() - started < 60:
                async with session.get(f"{state['public']}/{pid}/status.json") as resp:
                    doc = await resp.json()
                seen_statuses.append(doc["status"])
                if doc["paid_at"] is not None:
                    break
                await asyncio.sleep(0.2)
            assert doc["paid_at"] is not None and doc["tx_hash"].startswith("0x")
            assert "seen" in seen_statuses or doc["seen_at"] is not None
        deadline = time.monotonic() + 20
        while ">>> POSTBACK paid" not in (tmp_path / "dev.log").read_text():
            assert time.monotonic() < deadline, "no postback printed"
            await asyncio.sleep(0.2)
        assert "(signature valid)" in (tmp_path / "dev.log").read_text()
        assert time.monotonic() - started < 60
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()

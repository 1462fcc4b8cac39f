"""Sweep test kit: a server config with neither mnemonic nor deposit key, the CLI as a
subprocess, paid payments on the session anvil, and a miner for confirmations."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tests.chain.watching import Watch, chain_overrides, units, watching
from tests.fixtures.chain import DevChain
from tests.harness import DEV_MNEMONIC, REPO, base_config, deep_merge, write_config
from xbtcpay.chain import devchain

GAS_WALLET = devchain.dev_key(1)
TREASURY = "0x7777777777777777777777777777777777777777"


@dataclass(frozen=True)
class Result:
    code: int
    out: str
    err: str

    def line(self) -> str:
        return self.err.strip().splitlines()[-1] if self.err.strip() else ""


async def cli(
    config: Path, *args: str, stdin: str | None = None, cwd: Path | None = None
) -> Result:
    """``python -m xbtcpay -c CONFIG ARGS`` as a real subprocess."""
    argv = ["-c", str(config), *args] if args and args[:2] != ("sweep", "sign") else list(args)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "xbtcpay",
        *argv,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=str(cwd or REPO),
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    out, err = await proc.communicate(stdin.encode() if stdin is not None else None)
    return Result(proc.returncode or 0, out.decode(), err.decode())


def mnemonic_file(directory: Path) -> Path:
    """The mnemonic on the signing machine (a directory the server config never names)."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "mnemonic.txt"
    path.write_text(DEV_MNEMONIC + "\n")
    return path


def server_sweep(tmp_path: Path, batch: str | None = None, **extra: Any) -> dict[str, Any]:
    key = tmp_path / "gas-wallet.key"
    key.write_text(GAS_WALLET.key.hex() + "\n")
    section: dict[str, Any] = {
        "treasury": TREASURY,
        "gas_wallet_key": {"file": str(key)},
        "confirmations": 2,
        "timeout": 60,
        **extra,
    }
    if batch is not None:
        section["batch"] = batch
    return {"sweep": section}


async def deploy(tmp_path: Path, chain: DevChain) -> str:
    """``xbtcpay sweep deploy`` from a config without a batch; returns the batch address."""
    raw = base_config(tmp_path, chain_overrides(chain, 0, server_sweep(tmp_path)))
    (tmp_path / "deploy").mkdir(exist_ok=True)
    config = write_config(tmp_path / "deploy", raw)
    result = await cli(config, "sweep", "deploy")
    assert result.code == 0, result
    return result.out.split("batch: ")[1].split()[0].strip('"')


@asynccontextmanager
async def sweep_server(
    tmp_path: Path, chain: DevChain, config: dict[str, Any] | None = None, **extra: Any
) -> AsyncIterator[Watch]:
    """A daemon with its watcher, configured to sweep through a freshly deployed batch."""
    batch = await deploy(tmp_path, chain)
    raw = deep_merge(config or {}, server_sweep(tmp_path, batch, **extra))
    async with watching(tmp_path, chain, raw) as w:
        yield w


def config_path(w: Watch) -> Path:
    return w.d.config.path


async def paid_payments(w: Watch, count: int, amount: str = "1.5") -> list[dict[str, Any]]:
    """``count`` payments of ``amount`` test 0xBTC, paid and confirmed."""
    payments = [await w.pay_request(amount) for _ in range(count)]
    txs = [await w.chain.pay_tokens(p["address"], units(amount), wait=False) for p in payments]
    await devchain.wait_receipt(w.chain.client, txs[-1])
    await w.chain.mine(3)
    for p in payments:
        await w.until(p["id"], "paid", timeout=60)
    return payments


@asynccontextmanager
async def mining(chain: DevChain, interval: float = 0.2) -> AsyncIterator[None]:
    """Mine a block every ``interval`` seconds (confirmations for ``sweep send``)."""

    async def loop() -> None:
        while True:
            await asyncio.sleep(interval)
            await chain.mine(1)

    task = asyncio.create_task(loop())
    try:
        yield
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def load(path: Path) -> Any:
    return json.loads(path.read_text())


def save(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=2))


def config_text(path: Path) -> str:
    return path.read_text() + "".join(
        Path(v["file"]).read_text() for v in _files(yaml.safe_load(path.read_text()))
    )


def _files(node: Any) -> list[dict[str, str]]:
    if isinstance(node, dict):
        if set(node) == {"file"}:
            return [node]
        return [f for v in node.values() for f in _files(v)]
    return []


def deposit_key_hex(index: int) -> str:
    return bytes(devchain.dev_key(index).key).hex()


async def send_type4(
    chain: DevChain,
    sponsor: Any,
    to: str,
    data: str,
    authorizations: list[Any],
    *,
    require_success: bool = True,
) -> dict[str, Any]:
    """A set-code (type-4) transaction paid by ``sponsor``; returns its receipt."""
    client = chain.client
    nonce = int(await client.call("eth_getTransactionCount", [sponsor.address, "pending"]), 16)
    block = await client.get_block("latest") or {}
    base_fee = int(str(block.get("baseFeePerGas", "0x0")), 16)
    tx = {
        "type": 4,
        "chainId": 31337,
        "nonce": nonce,
        "to": to,
        "value": 0,
        "data": data,
        "gas": 3_000_000,
        "maxFeePerGas": 2 * base_fee + 10**9,
        "maxPriorityFeePerGas": 10**9,
        "authorizationList": authorizations,
    }
    raw = "0x" + bytes(sponsor.sign_transaction(tx).raw_transaction).hex()
    tx_hash = await client.call("eth_sendRawTransaction", [raw])
    return await devchain.wait_receipt(client, tx_hash, require_success=require_success)


async def sweep_rows(w: Watch) -> int:
    row = await w.d.runtime.db.fetchone("SELECT COUNT(*) AS n FROM sweeps")
    return int(row["n"]) if row else 0

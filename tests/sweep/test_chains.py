"""Sweeps with several chains: each chain has its own batch (``sweep.chains.<name>``), the
commands work on one chain (``--chain``, or the chain of ``--asset`` / of the signed plan),
and ``funds`` reads one chain's node."""

from __future__ import annotations

import json
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

from tests.chain.multichain import dev_chain, has_status, start_daemon
from tests.chain.watching import units
from tests.harness import base_config, wait_until, write_config
from tests.sweep.kit import TREASURY, cli, mining, mnemonic_file, server_sweep
from xbtcpay.chain import devchain


def _two_chains(tmp_path: Path, l1: Any, base: Any) -> dict[str, Any]:
    raw = base_config(tmp_path)
    raw.pop("chain")
    raw["chains"] = {
        "l1": {"chain_id": 31337, "rpc_urls": [l1.url], "poll_interval": 0.1},
        "base": {
            "chain_id": 8453,
            "name": "Base (dev)",
            "rpc_urls": [base.url],
            "poll_interval": 0.1,
            "confirmations": 2,
        },
    }
    raw["assets"] = {
        "0xbtc": {"chain": "l1", "contract": l1.token, "decimals": 8},
        "xbtc_base": {"chain": "base", "contract": base.token, "decimals": 8},
    }
    raw.update(server_sweep(tmp_path))
    return raw


async def test_a_sweep_on_the_second_chain_through_its_own_batch(tmp_path: Path) -> None:
    async with AsyncExitStack() as stack:
        l1 = await stack.enter_async_context(dev_chain(31337, None))
        base = await stack.enter_async_context(dev_chain(8453, None))
        raw = _two_chains(tmp_path, l1, base)
        (tmp_path / "deploy").mkdir()
        deployed = await cli(
            write_config(tmp_path / "deploy", raw), "sweep", "deploy", "--chain", "base"
        )
        assert deployed.code == 0, deployed
        batch = deployed.out.split("batch: ")[1].split()[0].strip('"')
        assert await base.client.call("eth_getCode", [batch, "latest"]) not in ("0x", None)
        assert await l1.client.call("eth_getCode", [batch, "latest"]) in ("0x", None)
        raw["sweep"]["chains"] = {"base": {"batch": batch}}
        d = await start_daemon(stack, tmp_path, raw)
        cfg = d.config.path
        p = await d.start_payment("1.5", asset="xbtc_base")
        await base.pay_tokens(p["address"], units("1.5"))
        await base.mine(2)
        await wait_until(lambda: has_status(d, p["id"], "paid"), timeout=30)

        plan = tmp_path / "plan.json"
        planned = await cli(cfg, "sweep", "plan", "--asset", "xbtc_base", "-o", str(plan))
        assert planned.code == 0, planned
        assert "(chain 8453)" in planned.out
        assert json.loads(plan.read_text())["chain_id"] == 8453
        signed = tmp_path / "offline" / "signed.json"
        keys = mnemonic_file(tmp_path / "offline")
        sign = await cli(
            cfg, "sweep", "sign", str(plan), "--mnemonic-file", str(keys), "-o", str(signed)
        )
        assert sign.code == 0, sign
        async with mining(base):
            sent = await cli(cfg, "sweep", "send", str(signed))  # the plan's chain: base
        assert sent.code == 0, sent
        assert await devchain.token_balance(base.client, base.token, TREASURY) == units("1.5")

        funds = await cli(cfg, "funds", "--chain", "base", "--json")
        assert funds.code == 0, funds
        summary = json.loads(funds.out)
        assert set(summary["assets"]) == {"xbtc_base"}
        assert summary["assets"]["xbtc_base"]["swept"] == "1.5"
        primary = json.loads((await cli(cfg, "funds", "--json")).out)
        assert set(primary["assets"]) == {"0xbtc"}  # the primary chain's node, its assets
        unknown = await cli(cfg, "funds", "--chain", "bsae")
        assert unknown.code == 1 and "unknown chain 'bsae': one of" in unknown.err


async def test_a_chain_without_its_own_batch_has_none(tmp_path: Path) -> None:
    async with AsyncExitStack() as stack:
        l1 = await stack.enter_async_context(dev_chain(31337, None))
        base = await stack.enter_async_context(dev_chain(8453, None))
        raw = _two_chains(tmp_path, l1, base)
        raw["sweep"]["batch"] = l1.token  # (any contract: it is l1's, never base's)
        cfg = write_config(tmp_path, raw)
        planned = await cli(cfg, "sweep", "plan", "--chain", "base", "-o", str(tmp_path / "p"))
        assert planned.code == 1  # refused: base has no batch, and l1's is not used there
        assert "sweep.chains.base.batch is not set" in planned.err, planned

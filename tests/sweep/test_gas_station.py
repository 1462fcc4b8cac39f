"""Chains without EIP-7702: the gas-station plan tops up gas and sends signed transfers."""

from __future__ import annotations

import json
from pathlib import Path

from tests.chain.watching import units
from tests.fixtures.chain import DevChain
from tests.sweep.kit import (
    TREASURY,
    cli,
    config_path,
    load,
    mining,
    mnemonic_file,
    paid_payments,
    save,
    sweep_server,
)


async def test_a_gas_station_plan_moves_the_funds_and_leaves_eth_dust(
    tmp_path: Path, chain: DevChain
) -> None:
    async with sweep_server(tmp_path, chain) as w:
        cfg = config_path(w)
        payments = await paid_payments(w, 3)
        plan = tmp_path / "plan.json"
        assert (await cli(cfg, "sweep", "plan", "--gas-station", "-o", str(plan))).code == 0
        assert load(plan)["kind"] == "gas-station"
        signed = tmp_path / "offline" / "signed.json"
        result = await cli(
            cfg,
            "sweep",
            "sign",
            str(plan),
            "--mnemonic-file",
            str(mnemonic_file(tmp_path / "offline")),
            "-o",
            str(signed),
        )
        assert result.code == 0, result
        assert len(load(signed)["transfers"]) == 3 and load(signed)["authorizations"] == []

        tampered = load(signed)
        tampered["plan"]["addresses"][0]["balance"] = str(units("1"))
        save(tmp_path / "tampered.json", tampered)
        bad = await cli(cfg, "sweep", "send", str(tmp_path / "tampered.json"))
        assert bad.code == 1 and "is not its balance to the treasury" in bad.err

        dry = await cli(cfg, "sweep", "send", str(signed), "--dry-run")
        assert dry.code == 0 and "3 addresses by gas station: 3 top-ups" in dry.out, dry
        async with mining(chain):
            sent = await cli(cfg, "sweep", "send", str(signed))
        assert sent.code == 0, sent
        assert sent.out.count(": confirmed, 1 addresses") == 3
        assert await chain.token_balance(TREASURY) == 3 * units("1.5")
        for p in payments:
            assert await chain.token_balance(p["address"]) == 0
            assert await chain.eth_balance(p["address"]) > 0  # unused gas stays behind
            assert (await w.payment(p["id"])).status.value == "paid"
        funds = json.loads((await cli(cfg, "funds", "--json")).out)["assets"]["0xbtc"]
        assert (funds["received"], funds["swept"], funds["unswept"]) == ("4.5", "4.5", "0")

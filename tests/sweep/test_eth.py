"""Native ETH deposits sweep the same way: the delegate moves the account's ETH."""

from __future__ import annotations

import json
from pathlib import Path

from tests.chain.watching import ETH_ASSET
from tests.fixtures.chain import DevChain
from tests.sweep.kit import TREASURY, cli, config_path, mining, mnemonic_file, sweep_server


async def test_paid_eth_payments_are_swept_to_the_treasury(tmp_path: Path, chain: DevChain) -> None:
    async with sweep_server(tmp_path, chain, {"assets": ETH_ASSET}) as w:
        cfg = config_path(w)
        payments = [await w.pay_request("0.01", asset="eth") for _ in range(3)]
        for p in payments:
            await chain.pay_eth(p["address"], 10**16)
        await chain.mine(3)
        for p in payments:
            await w.until(p["id"], "paid")
        before = await chain.eth_balance(TREASURY)
        plan = tmp_path / "plan.json"
        result = await cli(cfg, "sweep", "plan", "--asset", "eth", "-o", str(plan))
        assert result.code == 0 and "3 addresses, 0.03 eth" in result.out, result
        signed = tmp_path / "offline" / "signed.json"
        assert (
            await cli(
                cfg,
                "sweep",
                "sign",
                str(plan),
                "--mnemonic-file",
                str(mnemonic_file(tmp_path / "offline")),
                "-o",
                str(signed),
            )
        ).code == 0
        async with mining(chain):
            sent = await cli(cfg, "sweep", "send", str(signed))
        assert sent.code == 0 and "0.03 eth" in sent.out, sent
        assert await chain.eth_balance(TREASURY) == before + 3 * 10**16
        for p in payments:
            assert await chain.eth_balance(p["address"]) == 0
            assert (await w.payment(p["id"])).status.value == "paid"
        funds = json.loads((await cli(cfg, "funds", "--json")).out)["assets"]["eth"]
        assert (funds["received"], funds["swept"], funds["unswept"]) == ("0.03", "0.03", "0")

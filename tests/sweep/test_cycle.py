"""Acceptance 1 and 2: plan / sign / send moves 200 paid payments' funds to the treasury."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from tests.chain.watching import units
from tests.fixtures.chain import DevChain
from tests.harness import DEV_MNEMONIC
from tests.sweep.kit import (
    GAS_WALLET,
    TREASURY,
    cli,
    config_path,
    config_text,
    deposit_key_hex,
    load,
    mining,
    mnemonic_file,
    paid_payments,
    sweep_server,
)

COUNT = 200
SUM = "300"  # 200 x 1.5 0xBTC


@pytest.mark.slow
async def test_two_hundred_paid_payments_swept_in_as_few_transactions_as_the_gas_limit_allows(
    tmp_path: Path, chain: DevChain
) -> None:
    async with sweep_server(tmp_path, chain) as w:
        cfg = config_path(w)
        server_files = config_text(cfg)
        assert DEV_MNEMONIC not in server_files and "mnemonic" not in server_files
        payments = await paid_payments(w, COUNT)
        found = {(await w.payment(p["id"])).derivation_index for p in payments}
        indexes = sorted(i for i in found if i is not None)
        assert len(indexes) == len(payments)  # every paid payment has its own index
        assert all(deposit_key_hex(i) not in server_files for i in indexes)
        total = units("1.5") * COUNT
        deposits_before = len(await w.deposits())

        before = await cli(cfg, "funds", "--json")
        assert before.code == 0, before
        funds = json.loads(before.out)["assets"]["0xbtc"]
        assert (funds["received"], funds["swept"], funds["unswept"]) == (SUM, "0", SUM)
        assert len(funds["addresses"]) == COUNT

        plan = await cli(cfg, "sweep", "plan", "-o", str(tmp_path / "plan.json"))
        assert plan.code == 0, plan
        assert load(tmp_path / "plan.json")["count"] == COUNT
        assert "EIP-7702 batches 5941000 gas" in plan.out and "gas station 10160000" in plan.out
        signer = tmp_path / "offline"
        signed = await cli(
            cfg,
            "sweep",
            "sign",
            str(tmp_path / "plan.json"),
            "--mnemonic-file",
            str(mnemonic_file(signer)),
            "-o",
            str(signer / "signed.json"),
        )
        assert signed.code == 0, signed
        assert f"{COUNT} addresses, {SUM} 0xbtc to treasury {TREASURY}" in signed.err
        assert DEV_MNEMONIC not in signed.out + signed.err
        assert DEV_MNEMONIC.split()[0] not in (signer / "signed.json").read_text()

        dry = await cli(cfg, "sweep", "send", str(signer / "signed.json"), "--dry-run")
        assert dry.code == 0, dry
        assert f"{COUNT} addresses in 1 transaction(s)" in dry.out
        assert await chain.token_balance(TREASURY) == 0

        gas_before = await chain.eth_balance(GAS_WALLET.address)
        async with mining(chain):
            sent = await cli(cfg, "sweep", "send", str(signer / "signed.json"))
        assert sent.code == 0, sent
        assert sent.out.count(": confirmed,") == 1  # 200 addresses, one transaction

        assert await chain.token_balance(TREASURY) == total
        for p in payments:
            assert await chain.token_balance(p["address"]) == 0
            assert await chain.eth_balance(p["address"]) == 0
            assert (await w.payment(p["id"])).status.value == "paid"
        assert await chain.eth_balance(GAS_WALLET.address) < gas_before
        await w.synced()
        assert len(await w.deposits()) == deposits_before  # the outgoing transfers: nothing

        after = json.loads((await cli(cfg, "funds", "--json")).out)
        funds = after["assets"]["0xbtc"]
        assert (funds["received"], funds["swept"], funds["unswept"], funds["unexplained"]) == (
            SUM,
            SUM,
            "0",
            "0",
        )
        assert funds["addresses"] == []
        runway = after["gas_wallet"]
        assert runway["address"] == GAS_WALLET.address and runway["addresses"] > 0
        assert Decimal(runway["balance"]) > 0
        rows = await w.d.runtime.db.fetchall("SELECT * FROM sweep_items")
        assert len(rows) == COUNT

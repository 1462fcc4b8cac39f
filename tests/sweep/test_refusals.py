"""Every refusal of the issue: one clear line, a non-zero exit, and nothing moved."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth_account import Account

from tests.chain.watching import Watch, units
from tests.fixtures.chain import DevChain
from tests.sweep.kit import (
    GAS_WALLET,
    TREASURY,
    cli,
    config_path,
    load,
    mining,
    mnemonic_file,
    paid_payments,
    save,
    sweep_rows,
    sweep_server,
)
from xbtcpay.chain import devchain

ATTACKER = "0x6666666666666666666666666666666666666666"


@dataclass
class Setup:
    w: Watch
    tmp: Path
    payments: list[dict[str, Any]]
    mnemonic: Path

    @property
    def cfg(self) -> Path:
        return config_path(self.w)

    async def plan(self) -> dict[str, Any]:
        result = await cli(self.cfg, "sweep", "plan", "-o", str(self.tmp / "plan.json"))
        assert result.code == 0, result
        return dict(load(self.tmp / "plan.json"))

    async def sign(self, plan: dict[str, Any], *extra: str) -> Any:
        save(self.tmp / "p.json", plan)
        return await cli(
            self.cfg,
            "sweep",
            "sign",
            str(self.tmp / "p.json"),
            "--mnemonic-file",
            str(self.mnemonic),
            "-o",
            str(self.tmp / "signed.json"),
            *extra,
        )

    async def send(self, signed: dict[str, Any] | None = None) -> Any:
        if signed is not None:
            save(self.tmp / "signed.json", signed)
        async with mining(self.w.chain):
            return await cli(self.cfg, "sweep", "send", str(self.tmp / "signed.json"))

    async def nothing_moved(self) -> None:
        chain = self.w.chain
        assert await chain.token_balance(TREASURY) == 0
        for p in self.payments:
            assert await chain.token_balance(p["address"]) == units("1.5")
            assert await chain.client.call("eth_getCode", [p["address"], "latest"]) == "0x"
        assert await sweep_rows(self.w) == 0


@asynccontextmanager
async def setup(tmp_path: Path, chain: DevChain) -> AsyncIterator[Setup]:
    async with sweep_server(tmp_path, chain) as w:
        yield Setup(w, tmp_path, await paid_payments(w, 3), mnemonic_file(tmp_path / "offline"))


def refusal(result: Any, words: str) -> None:
    assert result.code != 0, result
    lines = result.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("sweep refused: "), result
    assert words in lines[0], lines[0]


async def test_a_plan_for_another_chain_id_is_refused(tmp_path: Path, chain: DevChain) -> None:
    async with setup(tmp_path, chain) as s:
        plan = await s.plan()
        plan["chain_id"] = 1
        assert (await s.sign(plan)).code == 0  # the signer cannot know the server's chain
        refusal(await s.send(), "the plan is for chain id 1, this server is on chain id 31337")
        plan["chain_id"] = 0
        refusal(await s.sign(plan), "chain id 0, which every chain accepts")
        await s.nothing_moved()


async def test_a_plan_with_an_address_swapped_is_refused_by_the_signer(
    tmp_path: Path, chain: DevChain
) -> None:
    async with setup(tmp_path, chain) as s:
        plan = await s.plan()
        plan["addresses"][1]["address"] = devchain.dev_key(3).address
        refusal(await s.sign(plan), f"{devchain.dev_key(3).address} is not address")
        plan = await s.plan()
        first, second = plan["addresses"][0], plan["addresses"][1]
        first["index"], second["index"] = second["index"], first["index"]
        refusal(await s.sign(plan), "tampered plan?")
        assert not (s.tmp / "signed.json").exists()
        await s.nothing_moved()


async def test_a_plan_with_the_treasury_changed_is_refused(tmp_path: Path, chain: DevChain) -> None:
    async with setup(tmp_path, chain) as s:
        plan = await s.plan()
        plan["treasury"] = ATTACKER
        refusal(await s.sign(plan), "does not pay its treasury")
        plan = await s.plan()
        refusal(await s.sign(plan, "--treasury", ATTACKER), "not the expected treasury")
        assert (await s.sign(plan, "--treasury", TREASURY)).code == 0
        signed = load(s.tmp / "signed.json")
        signed["plan"]["treasury"] = ATTACKER  # tampered after signing
        refusal(await s.send(signed), f"this server's treasury is {TREASURY}")
        await s.nothing_moved()


async def test_authorizations_for_another_delegate_are_refused(
    tmp_path: Path, chain: DevChain
) -> None:
    async with setup(tmp_path, chain) as s:
        plan = await s.plan()
        assert (await s.sign(plan)).code == 0
        signed = load(s.tmp / "signed.json")
        other = await devchain.deploy(chain.client, "SweepBatch", devchain.dev_key(2), [ATTACKER])
        for auth, entry in zip(signed["authorizations"], plan["addresses"], strict=True):
            forged = Account.sign_authorization(
                {"chainId": 31337, "address": other, "nonce": 0},
                devchain.dev_key(entry["index"]).key,
            )
            auth.update(delegate=other, y_parity=forged.y_parity, r=hex(forged.r), s=hex(forged.s))
        refusal(await s.send(signed), f"delegates to {other}, not to this server's delegate")
        await s.nothing_moved()


async def test_authorizations_signed_for_chain_0_or_another_chain_are_refused_by_send(
    tmp_path: Path, chain: DevChain
) -> None:
    """Validly signed by the deposit keys, for this server's delegate, but for chain 0
    (valid on every chain) or another chain: ``sweep send`` refuses before sending."""
    async with setup(tmp_path, chain) as s:
        plan = await s.plan()
        assert (await s.sign(plan)).code == 0
        for chain_id, words in (
            (0, "is for chain id 0, which every chain accepts"),
            (1, "is for chain id 1, this server is on chain id 31337"),
        ):
            signed = load(s.tmp / "signed.json")
            for auth, entry in zip(signed["authorizations"], plan["addresses"], strict=True):
                forged = Account.sign_authorization(
                    {"chainId": chain_id, "address": plan["delegate"], "nonce": entry["nonce"]},
                    devchain.dev_key(entry["index"]).key,
                )
                auth.update(
                    chain_id=chain_id,
                    y_parity=forged.y_parity,
                    r=hex(forged.r),
                    s=hex(forged.s),
                )
            refusal(await s.send(signed), words)
        await s.nothing_moved()


async def test_an_open_payments_address_is_never_planned_and_a_plan_holding_it_is_refused(
    tmp_path: Path, chain: DevChain
) -> None:
    async with setup(tmp_path, chain) as s:
        open_payment = await s.w.pay_request("2")
        await chain.pay_tokens(open_payment["address"], units("1"))  # underpaid: seen
        await s.w.until(open_payment["id"], "seen")
        plan = await s.plan()
        assert open_payment["address"].lower() not in [
            a["address"].lower() for a in plan["addresses"]
        ]
        index = (await s.w.payment(open_payment["id"])).derivation_index
        plan["addresses"].append(
            {
                "index": index,
                "address": open_payment["address"],
                "payment_ids": [open_payment["id"]],
                "balance": str(units("1")),
                "nonce": 0,
                "delegated": False,
            }
        )
        assert (await s.sign(plan)).code == 0  # the signer only sees a valid derivation
        refusal(await s.send(), f"belongs to payment {open_payment['id']}, which can still be paid")
        assert await chain.token_balance(open_payment["address"]) == units("1")
        await s.nothing_moved()


async def test_a_gas_wallet_without_enough_eth_is_refused(tmp_path: Path, chain: DevChain) -> None:
    async with setup(tmp_path, chain) as s:
        assert (await s.sign(await s.plan())).code == 0
        await chain.client.call("anvil_setBalance", [GAS_WALLET.address, hex(10**12)])
        refusal(await s.send(), f"the gas wallet {GAS_WALLET.address} holds 1000000000000 wei")
        await s.nothing_moved()


async def test_an_address_whose_balance_changed_since_the_plan_is_skipped(
    tmp_path: Path, chain: DevChain
) -> None:
    async with setup(tmp_path, chain) as s:
        assert (await s.sign(await s.plan())).code == 0
        index = (await s.w.payment(s.payments[0]["id"])).derivation_index
        assert index is not None
        changed = Account.from_key(devchain.dev_key(index).key).address
        await chain.pay_tokens(changed, units("0.25"))
        sent = await s.send()
        assert sent.code == 0, sent
        assert f"skipped {changed}: balance changed since the plan" in sent.out
        assert "2 addresses in 1 transaction(s)" in sent.out
        assert await chain.token_balance(TREASURY) == 2 * units("1.5")
        assert await chain.token_balance(changed) == units("1.75")

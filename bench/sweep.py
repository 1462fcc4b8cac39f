"""5. Gas per swept address: EIP-7702 batches vs a gas station vs a funded key per address.

All flows run on one anvil in one run and move the same token balance from fresh addresses
to a treasury; the baseline is the cheapest thing a merchant can do without this feature:
each deposit address already holds ETH and sends its own token transfer. Gas is what the
receipts say (``gasUsed``), so the numbers do not depend on the machine's speed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount

from bench.chainkit import BenchChain, dev_chain
from bench.context import Context, say
from bench.report import Section, Target
from xbtcpay.chain import devchain
from xbtcpay.sweep.contracts import delegate_address, sweep_calldata

TREASURY = "0x7777777777777777777777777777777777777777"
UNITS = 150_000_000
TIP, MAX_FEE = 10**9, 50 * 10**9


def _keys(n: int) -> list[LocalAccount]:
    return [Account.create() for _ in range(n)]


async def _receipts(bc: BenchChain, hashes: Sequence[str]) -> list[dict[str, Any]]:
    receipts = await bc.client.batch([("eth_getTransactionReceipt", [h]) for h in hashes])
    if any(r is None or r.get("status") != "0x1" for r in receipts):
        raise RuntimeError("a benchmark transaction failed")
    return list(receipts)


async def _mined(bc: BenchChain, raws: Sequence[str]) -> list[dict[str, Any]]:
    hashes = await bc.client.batch([("eth_sendRawTransaction", [raw]) for raw in raws])
    await bc.mine()
    return await _receipts(bc, [str(h) for h in hashes])


def _gas(receipts: Sequence[dict[str, Any]]) -> int:
    return sum(int(r["gasUsed"], 16) for r in receipts)


def _tx(key: LocalAccount, nonce: int, **fields: Any) -> str:
    tx = {
        "chainId": 31337,
        "nonce": nonce,
        "value": 0,
        "maxFeePerGas": MAX_FEE,
        "maxPriorityFeePerGas": TIP,
        "type": 2,
        "data": "0x",
        **fields,
    }
    return "0x" + bytes(key.sign_transaction(tx).raw_transaction).hex()


async def _fund_tokens(bc: BenchChain, keys: Sequence[LocalAccount]) -> None:
    await bc.queue_transfers([(k.address, UNITS) for k in keys], await bc.nonce())
    await bc.mine()


def _transfer(bc: BenchChain, key: LocalAccount) -> str:
    data = devchain.calldata("transfer(address,uint256)", ["address", "uint256"], [TREASURY, UNITS])
    return _tx(key, 0, to=bc.token, data=data, gas=80_000)


async def funded_transfers(bc: BenchChain, n: int) -> int:
    """Baseline: every address holds ETH and sends its own transfer."""
    keys = _keys(n)
    await _fund_tokens(bc, keys)
    await bc.client.batch([("anvil_setBalance", [k.address, hex(10**17)]) for k in keys])
    return _gas(await _mined(bc, [_transfer(bc, k) for k in keys])) // n


async def gas_station(bc: BenchChain, n: int, sponsor: LocalAccount) -> tuple[int, int]:
    """(top-up gas, transfer gas) per address."""
    keys = _keys(n)
    await _fund_tokens(bc, keys)
    nonce = int(await bc.client.call("eth_getTransactionCount", [sponsor.address, "pending"]), 16)
    topups = await _mined(
        bc,
        [
            _tx(sponsor, nonce + i, to=k.address, value=80_000 * MAX_FEE, gas=21_000)
            for i, k in enumerate(keys)
        ],
    )
    return _gas(topups) // n, _gas(await _mined(bc, [_transfer(bc, k) for k in keys])) // n


async def batch_7702(
    bc: BenchChain,
    batch: str,
    delegate: str,
    keys: Sequence[LocalAccount],
    sponsor: LocalAccount,
    *,
    authorize: bool = True,
) -> int:
    """Gas per address of one type-4 (or, already delegated, type-2) sweep transaction."""
    nonce = int(await bc.client.call("eth_getTransactionCount", [sponsor.address, "pending"]), 16)
    tx: dict[str, Any] = {
        "to": batch,
        "data": sweep_calldata(bc.token, [k.address for k in keys]),
        "gas": 16_000_000,
    }
    if authorize:
        tx.update(
            type=4,
            authorizationList=[
                Account.sign_authorization(
                    {"chainId": 31337, "address": delegate, "nonce": 0}, k.key
                )
                for k in keys
            ],
        )
    return _gas(await _mined(bc, [_tx(sponsor, nonce, **tx)])) // len(keys)


async def run(ctx: Context) -> Section:
    n = ctx.sizes.sweep_addresses
    sponsor = devchain.dev_key(1)
    section = Section(
        "sweep_gas",
        f"5. Gas per swept address ({n} addresses per flow, anvil)",
        ["flow", "transactions", "gas per address", "vs funded transfer"],
    )
    async with dev_chain() as bc:
        await bc.mine()
        batch = await _deploy(bc, sponsor)
        delegate = delegate_address(batch, TREASURY)
        baseline = await funded_transfers(bc, n)
        topup, transfer = await gas_station(bc, n, sponsor)
        rows: list[tuple[str, int, int]] = [
            ("funded key per address (baseline)", n, baseline),
            ("gas station: 21k top-up + transfer", 2 * n, topup + transfer),
        ]
        for size in sorted({1, min(20, n), n}):
            keys = _keys(size)
            await _fund_tokens(bc, keys)
            rows.append(
                (
                    f"EIP-7702 batch of {size}",
                    1,
                    await batch_7702(bc, batch, delegate, keys, sponsor),
                )
            )
            if size == n:
                await _fund_tokens(bc, keys)
                rows.append(
                    (
                        f"EIP-7702 again, {size} already delegated",
                        1,
                        await batch_7702(bc, batch, delegate, keys, sponsor, authorize=False),
                    )
                )
        swept = await devchain.token_balance(bc.client, bc.token, TREASURY)
    say(f"sweep: treasury received {swept} base units")
    for name, txs, gas in rows:
        section.rows.append([name, txs, gas, round(gas / baseline, 2)])
    per = {name: gas for name, _, gas in rows}
    batch_n, station = per[f"EIP-7702 batch of {n}"], topup + transfer
    section.ratios["7702 batch / funded transfer"] = batch_n / baseline
    section.ratios["gas station / funded transfer"] = station / baseline
    section.ratios["7702 batch / gas station"] = batch_n / station
    section.targets.append(
        Target(
            "7702 batch gas vs gas station",
            batch_n / station,
            "<=",
            1.0,
            "a batch must be cheaper than topping up every address",
        )
    )
    section.notes.append(
        "a first sweep pays 25,000 gas per authorization (EIP-7702 "
        "PER_EMPTY_ACCOUNT_COST); later sweeps of a delegated address do not"
    )
    section.notes.append("the gas station also leaves unused gas as ETH dust on every address")
    return section


async def _deploy(bc: BenchChain, sponsor: LocalAccount) -> str:
    await devchain.set_automine(bc.client, True)
    try:
        return await devchain.deploy(bc.client, "SweepBatch", sponsor, [TREASURY])
    finally:
        await devchain.set_automine(bc.client, False)


def main(ctx: Context) -> Section:
    return asyncio.run(run(ctx))

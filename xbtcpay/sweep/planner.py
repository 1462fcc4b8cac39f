"""``xbtcpay sweep plan``: the deposit addresses whose payments are all final, with balances."""

from __future__ import annotations

import time
from decimal import Decimal

from xbtcpay.chain.client import ChainClient
from xbtcpay.chain.settings import LEGACY_CHAIN
from xbtcpay.core.settings import AssetConfig
from xbtcpay.sweep.contracts import delegate_address
from xbtcpay.sweep.errors import SweepRefused
from xbtcpay.sweep.onchain import account_states, batch_delegate
from xbtcpay.sweep.plan import EIP7702, GAS_STATION, Plan, PlanEntry
from xbtcpay.sweep.records import SweepStore
from xbtcpay.sweep.settings import SweepConfig, SweepInputs

TRANSFER_GAS = 65_000  # gas limit of one token transfer signed for a gas-station plan


def sweep_settings(config: SweepInputs) -> SweepConfig:
    """The sweep section, or a refusal naming what is missing."""
    if config.sweep is None:
        raise SweepRefused("no sweep section in the config (sweep.treasury, sweep.batch)")
    return config.sweep


def contracts_of(config: SweepInputs) -> tuple[str, str, str]:
    """(treasury, batch, delegate) from the config; refused when the batch is not deployed."""
    s = sweep_settings(config)
    if s.batch is None and config.chain.key != LEGACY_CHAIN:  # a chain of chains:
        key = config.chain.key
        raise SweepRefused(
            f"sweep.chains.{key}.batch is not set: run `xbtcpay sweep deploy --chain {key}`"
            " first (or sweep with --gas-station)"
        )
    if s.batch is None:
        raise SweepRefused(
            "sweep.batch is not set: run `xbtcpay sweep deploy` and add the lines it prints"
            " under `sweep:`"
        )
    return s.treasury, s.batch, delegate_address(s.batch, s.treasury)


async def check_contracts(client: ChainClient, config: SweepInputs) -> tuple[str, str, str]:
    """The configured contracts, checked against the node (chain id, batch, its delegate)."""
    treasury, batch, delegate = contracts_of(config)
    chain_id = await client.chain_id()
    if chain_id != config.chain.chain_id:
        raise SweepRefused(
            f"the node is chain id {chain_id}, the config says {config.chain.chain_id}"
        )
    on_chain = await batch_delegate(client, batch)
    if on_chain is None:
        raise SweepRefused(f"no SweepBatch at {batch} on chain {chain_id}")
    if on_chain != delegate:
        raise SweepRefused(
            f"the SweepBatch at {batch} was deployed for another treasury "
            f"(delegate {on_chain}, expected {delegate})"
        )
    return treasury, batch, delegate


def min_units(asset: AssetConfig, minimum: str | None) -> int:
    if minimum is None:
        return 1
    try:
        value = Decimal(minimum)
    except ArithmeticError:
        raise SweepRefused(f"--min {minimum!r} is not a decimal amount") from None
    units = value.scaleb(asset.decimals)
    if not value.is_finite() or value < 0 or units != units.to_integral_value():
        raise SweepRefused(f"--min {minimum!r} is not an amount of {asset.name}")
    return max(1, int(units))


async def build_plan(
    config: SweepInputs,
    store: SweepStore,
    client: ChainClient,
    *,
    asset_name: str | None = None,
    minimum: str | None = None,
    gas_station: bool = False,
) -> Plan:
    """Plan a sweep of every address of ``asset`` whose payments are all final."""
    name = asset_name or config.default_asset
    asset = config.assets.get(name)
    if asset is None:
        raise SweepRefused(f"unknown asset {name!r} (configured: {', '.join(config.assets)})")
    if gas_station and asset.native:
        raise SweepRefused("--gas-station sweeps tokens; ETH deposits pay their own gas")
    treasury, batch, delegate = await check_contracts(client, config)
    now = int(time.time())
    issued = [
        a
        for a in await store.issued(name, now, config.payments.late_window, funded=True)
        if not a.open_payments
    ]
    states = await account_states(client, asset.contract, delegate, [a.address for a in issued])
    floor = min_units(asset, minimum)
    entries = tuple(
        PlanEntry(
            index=a.index,
            address=_checksum(a.address),
            payment_ids=a.payment_ids,
            balance=states[a.address].balance,
            nonce=states[a.address].nonce,
            delegated=states[a.address].delegated,
        )
        for a in issued
        if states[a.address].balance >= floor
    )
    station: dict[str, int] = {}
    if gas_station:
        block = await client.get_block("latest") or {}
        base_fee = int(str(block.get("baseFeePerGas", "0x0")), 16)
        station = {"gas": TRANSFER_GAS, "max_fee": 2 * base_fee + 10**9, "tip": 10**9}
    return Plan(
        chain_id=config.chain.chain_id,
        asset=name,
        token=_checksum_or_none(asset.contract),
        decimals=asset.decimals,
        treasury=treasury,
        batch=batch,
        delegate=delegate,
        xpub=config.wallet.xpub,
        entries=entries,
        kind=GAS_STATION if gas_station else EIP7702,
        created_at=now,
        gas_station=station,
    )


def _checksum(address: str) -> str:
    from eth_utils.address import to_checksum_address

    return str(to_checksum_address(address))


def _checksum_or_none(address: str | None) -> str | None:
    return None if address is None else _checksum(address)


GAS_7702_FIRST = 29_600  # per address in a 200-address batch, first sweep (bench sweep)
GAS_7702_AGAIN = 11_600  # per address already delegated
GAS_STATION_PER_ADDRESS = 50_800  # a 21,000-gas top-up + the transfer


def estimated_gas(plan: Plan) -> dict[str, int]:
    """Rough gas of sweeping ``plan`` both ways, from the measured costs (docs/funds.md)."""
    fresh = sum(1 for e in plan.entries if not e.delegated)
    again = len(plan.entries) - fresh
    return {
        "EIP-7702 batches": 21_000 + GAS_7702_FIRST * fresh + GAS_7702_AGAIN * again,
        "gas station": GAS_STATION_PER_ADDRESS * len(plan.entries),
    }

"""``xbtcpay funds`` / ``funds.summary``: where the money is.

Per asset: received (every deposit the watcher recorded to a payment of that asset), swept (confirmed sweeps), unswept
(balances on the deposit addresses now, read from the node) and ``unexplained`` (received -
swept - unswept: zero unless funds moved some other way, or a sweep is in flight: see
``sweeping``). The gas wallet's balance and how
many more addresses it can sweep at the current base fee. Stray deposits (another asset, or
another chain, sent to a payment's address) are listed on their own, for refunds.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import structlog

from xbtcpay.chain.client import ChainClient, NodeError
from xbtcpay.core.deposits import Deposit
from xbtcpay.core.settings import AssetConfig
from xbtcpay.sweep.moved import confirmations_needed, moved_units
from xbtcpay.sweep.records import CONFIRMED, FAILED, REORGED, SENT, SweepStore
from xbtcpay.sweep.settings import SweepInputs

log = structlog.get_logger("xbtcpay.sweep")
DEFAULT_GAS_PER_ADDRESS = 32_000  # 7702 batches, measured on anvil (docs/funds.md)
BATCH = 500


@dataclass(frozen=True)
class AssetFunds:
    asset: str
    decimals: int
    received: int
    swept: int
    unswept: int
    balances: dict[str, int]  # address -> units, non-zero only
    sweeping: int = 0  # planned units of sweeps sent, not yet confirmed

    @property
    def unexplained(self) -> int:
        return self.received - self.swept - self.unswept


@dataclass(frozen=True)
class Runway:
    address: str
    balance: int  # wei
    gas_per_address: int
    gas_price: int  # wei, base fee + tip
    addresses: int  # how many more addresses it can sweep


@dataclass(frozen=True)
class Funds:
    assets: dict[str, AssetFunds]
    runway: Runway | None
    reorged: list[str] = field(default_factory=list)  # sweeps found reorged away just now
    strays: list[tuple[Deposit, int]] = field(default_factory=list)  # (deposit, decimals)


async def follow_sent(
    config: SweepInputs, store: SweepStore, client: ChainClient, head: int
) -> None:
    """Sweeps still ``sent`` (``sweep send`` stopped or timed out before they confirmed):
    record them confirmed or failed once the chain says so, broadcast again if the node has
    forgotten them."""
    needed = confirmations_needed(config)
    for record in await store.latest(SENT):
        if not on_this_chain(config, record.asset):
            continue  # another chain's node answers for it
        receipt = await client.call("eth_getTransactionReceipt", [record.tx_hash])
        if receipt is None:
            if record.raw_tx:
                # already known, or replaced: it stays reported as sent
                with contextlib.suppress(NodeError):
                    await client.call("eth_sendRawTransaction", [record.raw_tx])
            continue
        number, block_hash = int(receipt["blockNumber"], 16), str(receipt["blockHash"]).lower()
        if receipt.get("status") != "0x1":
            await store.record_status(
                record.id, FAILED, block_number=number, block_hash=block_hash, detail="reverted"
            )
            continue
        block = await client.get_block(number)
        if head - number + 1 < needed or block is None or str(block["hash"]).lower() != block_hash:
            continue
        asset = config.assets.get(record.asset)
        token = asset.contract if asset is not None else None
        amounts = await moved_units(client, token, record.treasury, record.addresses, receipt)
        gas = int(receipt["gasUsed"], 16)
        await store.record_status(
            record.id,
            CONFIRMED,
            block_number=number,
            block_hash=block_hash,
            gas_used=gas,
            fee_wei=gas * int(receipt.get("effectiveGasPrice", "0x0"), 16),
            amounts=amounts,
        )
        log.info("sweep.confirmed", tx_hash=record.tx_hash, block=number, late=True)


async def recheck_sweeps(config: SweepInputs, store: SweepStore, client: ChainClient) -> list[str]:
    """Follow sweeps still ``sent``; confirmed sweeps within the reorg window that left the
    chain are recorded as reorged and returned."""
    head = await client.block_number()
    await follow_sent(config, store, client, head)
    lost = []
    for record in await store.latest(CONFIRMED):
        if not on_this_chain(config, record.asset):
            continue
        if record.block_number is None or record.block_number < head - config.chain.reorg_window:
            continue
        receipt = await client.call("eth_getTransactionReceipt", [record.tx_hash])
        if receipt is None or str(receipt["blockHash"]).lower() != record.block_hash:
            await store.record_status(record.id, REORGED, block_hash=record.block_hash)
            log.warning("sweep.reorged", tx_hash=record.tx_hash)
            lost.append(record.tx_hash)
    return lost


def on_this_chain(config: SweepInputs, asset: str) -> bool:
    """Whether ``asset`` is paid on the chain whose node ``config.chain`` names (an asset
    no longer configured counts as on it, as before there were several chains)."""
    chain = config.chain_of(asset)
    return chain is None or chain == config.chain


async def balances(client: ChainClient, asset: AssetConfig, addresses: list[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for start in range(0, len(addresses), BATCH):
        chunk = addresses[start : start + BATCH]
        if asset.native:
            out.update(await client.eth_balances(chunk, "latest"))
        else:
            assert asset.contract is not None
            out.update(await client.erc20_balances(asset.contract, chunk, "latest"))
    return out


async def summarize(
    config: SweepInputs,
    store: SweepStore,
    client: ChainClient,
    now: int,
    strays: Sequence[Deposit] = (),
) -> Funds:
    reorged = await recheck_sweeps(config, store, client)
    received, swept, sweeping = await store.received(), await store.swept(), await store.in_flight()
    assets = {}
    for name, asset in config.assets.items():
        if not on_this_chain(config, name):
            continue  # balances are read from this chain's node only
        issued = [
            a.address
            for a in await store.issued(name, now, config.payments.late_window, funded=True)
        ]
        held = {a: units for a, units in (await balances(client, asset, issued)).items() if units}
        assets[name] = AssetFunds(
            name,
            asset.decimals,
            received.get(name, 0),
            swept.get(name, 0),
            sum(held.values()),
            held,
            sweeping.get(name, 0),
        )
    known = [(d, config.assets[d.asset].decimals) for d in strays if d.asset in config.assets]
    return Funds(assets, await _runway(config, store, client), reorged, known)


async def _runway(config: SweepInputs, store: SweepStore, client: ChainClient) -> Runway | None:
    if config.sweep is None or config.sweep.gas_wallet_key is None:
        return None
    from eth_account import Account

    address = str(Account.from_key(config.sweep.gas_wallet_key.reveal()).address)
    balance = (await client.eth_balances([address], "latest"))[address]
    block = await client.get_block("latest") or {}
    price = int(str(block.get("baseFeePerGas", "0x0")), 16) + 10**9
    per = await store.gas_per_address() or DEFAULT_GAS_PER_ADDRESS
    return Runway(address, balance, per, price, balance // (per * price))


def _amount(units: int, decimals: int) -> str:
    return format(Decimal(units).scaleb(-decimals).normalize(), "f")


def funds_json(funds: Funds) -> dict[str, Any]:
    """Exact decimal strings of each asset's unit (and base units beside them)."""
    assets = {}
    for name, a in funds.assets.items():
        assets[name] = {
            "received": _amount(a.received, a.decimals),
            "swept": _amount(a.swept, a.decimals),
            "unswept": _amount(a.unswept, a.decimals),
            "unexplained": _amount(a.unexplained, a.decimals),
            "sweeping": _amount(a.sweeping, a.decimals),
            "units": {
                "received": str(a.received),
                "swept": str(a.swept),
                "unswept": str(a.unswept),
            },
            "addresses": [
                {"address": addr, "unswept": _amount(u, a.decimals)}
                for addr, u in sorted(a.balances.items())
            ],
        }
    runway = None
    if funds.runway is not None:
        r = funds.runway
        runway = {
            "address": r.address,
            "balance": _amount(r.balance, 18),
            "gas_per_address": r.gas_per_address,
            "gas_price_wei": str(r.gas_price),
            "addresses": r.addresses,
        }
    strays = [
        {
            "chain": d.chain,
            "asset": d.asset,
            "amount": _amount(d.units, decimals),
            "units": str(d.units),
            "address": d.address,
            "payment_id": d.payment_id,
            "tx_hash": d.tx_hash,
            "block_number": d.block_number,
        }
        for d, decimals in funds.strays
    ]
    return {
        "assets": assets,
        "gas_wallet": runway,
        "reorged_sweeps": funds.reorged,
        "stray_deposits": strays,
    }

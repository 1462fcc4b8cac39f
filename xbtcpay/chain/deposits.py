"""Deposits: credits to deposit addresses, read from Transfer logs and block transactions.

Pure functions over the node's JSON: no I/O. Matching happens in memory against every
deposit address ever issued (``AddressBook``), so the node is asked for all Transfer logs of
the configured tokens, never filtered by recipient.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import replace
from typing import Any

from xbtcpay.core.deposits import BALANCE, LOG, TX, AddressBook, Deposit, Target

TRANSFER_TOPIC = "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef"
BALANCE_POSITION = 1 << 40  # reconciled surpluses sort after every log of their block

__all__ = ["BALANCE", "LOG", "TX", "AddressBook", "Deposit", "Target"]


def topic_address(topic: str) -> str:
    """The 20-byte address held in a 32-byte indexed topic, lowercase 0x-hex."""
    return "0x" + topic[-40:].lower()


def transfer_deposits(
    logs: Iterable[Mapping[str, Any]], book: AddressBook, contracts: Mapping[str, str]
) -> list[Deposit]:
    """Deposits in Transfer logs whose recipient is ours and whose token is the payment's asset.

    ``contracts`` maps lowercase token address -> asset name. ERC-721 Transfers (four topics)
    and removed logs are ignored.
    """
    found: list[Deposit] = []
    for entry, asset, recipient, units in _transfers(logs, contracts):
        target = book.get(recipient)
        if target is not None and target.asset == asset:
            found.append(_log_deposit(entry, target.payment_id, asset, recipient, units))
    return found


def ether_deposits(
    blocks: Iterable[Mapping[str, Any]], book: AddressBook, native_assets: frozenset[str]
) -> list[Deposit]:
    """Plain ETH transfers (``tx.to`` is ours, value > 0) in full blocks.

    Transfers made from inside contract calls are not visible here: balance reconciliation
    catches them.
    """
    found: list[Deposit] = []
    for block_hash, number, tx, units in _ether(blocks):
        target = book.get(tx.get("to"))
        if target is not None and target.asset in native_assets:
            found.append(
                _tx_deposit(block_hash, number, tx, target.payment_id, target.asset, units)
            )
    return found


def stray_deposits(
    logs: Iterable[Mapping[str, Any]],
    blocks: Iterable[Mapping[str, Any]],
    book: AddressBook,
    contracts: Mapping[str, str],
    native_assets: frozenset[str],
) -> list[Deposit]:
    """Credits to our addresses of another configured asset of this chain than the payment's.

    The same address exists on every chain, so a payment's token sent on the wrong chain is
    one of these too. Recorded ``stray`` (for a refund), never counted towards the payment.
    ``blocks`` are full blocks, read only when the chain has a native asset.
    """
    found: list[Deposit] = []
    for entry, asset, recipient, units in _transfers(logs, contracts):
        target = book.get(recipient)
        if target is not None and target.asset != asset:
            deposit = _log_deposit(entry, target.payment_id, asset, recipient, units)
            found.append(replace(deposit, stray=True))
    if native_assets:
        native = min(native_assets)
        for block_hash, number, tx, units in _ether(blocks):
            target = book.get(tx.get("to"))
            if target is not None and target.asset not in native_assets:
                deposit = _tx_deposit(block_hash, number, tx, target.payment_id, native, units)
                found.append(replace(deposit, stray=True))
    return found


def _transfers(
    logs: Iterable[Mapping[str, Any]], contracts: Mapping[str, str]
) -> Iterator[tuple[Mapping[str, Any], str, str, int]]:
    """(log, asset, recipient, units) of every ERC-20 Transfer of a configured token."""
    for entry in logs:
        topics = entry.get("topics") or []
        if entry.get("removed") or len(topics) != 3 or topics[0].lower() != TRANSFER_TOPIC:
            continue
        asset = contracts.get(str(entry.get("address", "")).lower())
        units = int(entry.get("data") or "0x0", 16)
        if asset is not None and units > 0:
            yield entry, asset, topic_address(topics[2]), units


def _log_deposit(
    entry: Mapping[str, Any], payment_id: str, asset: str, recipient: str, units: int
) -> Deposit:
    block_hash = str(entry["blockHash"]).lower()
    return Deposit(
        key=f"{LOG}:{block_hash}:{entry['logIndex']}",
        payment_id=payment_id,
        asset=asset,
        address=recipient,
        units=units,
        kind=LOG,
        tx_hash=str(entry["transactionHash"]).lower(),
        block_number=int(entry["blockNumber"]),
        block_hash=block_hash,
        position=int(entry["logIndex"]),
    )


def _ether(
    blocks: Iterable[Mapping[str, Any]],
) -> Iterator[tuple[str, int, Mapping[str, Any], int]]:
    """(block hash, block number, tx, wei) of every plain transfer with value in full blocks."""
    for block in blocks:
        block_hash = str(block["hash"]).lower()
        for tx in block.get("transactions") or []:
            if not isinstance(tx, Mapping) or not tx.get("to"):
                continue
            units = int(tx.get("value") or "0x0", 16)
            if units > 0:
                yield block_hash, int(block["number"]), tx, units


def _tx_deposit(
    block_hash: str, number: int, tx: Mapping[str, Any], payment_id: str, asset: str, units: int
) -> Deposit:
    tx_hash = str(tx["hash"]).lower()
    return Deposit(
        key=f"{TX}:{block_hash}:{tx_hash}",
        payment_id=payment_id,
        asset=asset,
        address=str(tx["to"]).lower(),
        units=units,
        kind=TX,
        tx_hash=tx_hash,
        block_number=number,
        block_hash=block_hash,
        position=int(tx.get("transactionIndex") or "0x0", 16),
    )


def balance_deposit(
    payment_id: str, asset: str, address: str, units: int, block_number: int, block_hash: str
) -> Deposit:
    """A reconciled surplus at a confirmed block (no transaction hash)."""
    block_hash = block_hash.lower()
    return Deposit(
        key=f"{BALANCE}:{block_hash}:{payment_id}",
        payment_id=payment_id,
        asset=asset,
        address=address.lower(),
        units=units,
        kind=BALANCE,
        tx_hash=None,
        block_number=block_number,
        block_hash=block_hash,
        position=BALANCE_POSITION,
    )

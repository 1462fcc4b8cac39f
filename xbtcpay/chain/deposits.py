"""Deposits: credits to deposit addresses, read from Transfer logs and block transactions.

Pure functions over the node's JSON: no I/O. Matching happens in memory against every
deposit address ever issued (``AddressBook``), so the node is asked for all Transfer logs of
the configured tokens, never filtered by recipient.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
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
    for entry in logs:
        topics = entry.get("topics") or []
        if entry.get("removed") or len(topics) != 3 or topics[0].lower() != TRANSFER_TOPIC:
            continue
        target = book.get(topic_address(topics[2]))
        asset = contracts.get(str(entry.get("address", "")).lower())
        if target is None or asset is None or target.asset != asset:
            continue
        units = int(entry.get("data") or "0x0", 16)
        if units <= 0:
            continue
        block_hash = str(entry["blockHash"]).lower()
        found.append(
            Deposit(
                key=f"{LOG}:{block_hash}:{entry['logIndex']}",
                payment_id=target.payment_id,
                asset=asset,
                address=topic_address(topics[2]),
                units=units,
                kind=LOG,
                tx_hash=str(entry["transactionHash"]).lower(),
                block_number=int(entry["blockNumber"]),
                block_hash=block_hash,
                position=int(entry["logIndex"]),
            )
        )
    return found


def ether_deposits(
    blocks: Iterable[Mapping[str, Any]], book: AddressBook, native_assets: frozenset[str]
) -> list[Deposit]:
    """Plain ETH transfers (``tx.to`` is ours, value > 0) in full blocks.

    Transfers made from inside contract calls are not visible here: balance reconciliation
    catches them.
    """
    found: list[Deposit] = []
    for block in blocks:
        block_hash = str(block["hash"]).lower()
        for tx in block.get("transactions") or []:
            if not isinstance(tx, Mapping):
                continue
            target = book.get(tx.get("to"))
            units = int(tx.get("value") or "0x0", 16)
            if target is None or target.asset not in native_assets or units <= 0:
                continue
            tx_hash = str(tx["hash"]).lower()
            found.append(
                Deposit(
                    key=f"{TX}:{block_hash}:{tx_hash}",
                    payment_id=target.payment_id,
                    asset=target.asset,
                    address=str(tx["to"]).lower(),
                    units=units,
                    kind=TX,
                    tx_hash=tx_hash,
                    block_number=int(block["number"]),
                    block_hash=block_hash,
                    position=int(tx.get("transactionIndex") or "0x0", 16),
                )
            )
    return found


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

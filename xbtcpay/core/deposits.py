"""What the chain path records: credits to deposit addresses, issued addresses, block headers.

Plain records shared by the chain watcher (which reads them off the node) and storage
(which keeps them); no I/O and no node formats beyond a block's three header fields.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

LOG, TX, BALANCE = "log", "tx", "balance"


@dataclass(frozen=True)
class Deposit:
    """One credit of ``units`` base units of ``asset`` to the address of ``payment_id``.

    ``kind`` is ``log`` (ERC-20 Transfer), ``tx`` (plain ETH transfer, tx.to) or ``balance``
    (a surplus found by balance reconciliation: no transaction hash). ``position`` orders
    deposits inside one block (log index, transaction index, or after everything).

    A ``stray`` deposit is money of another asset than the payment's (or on another chain:
    the same address exists on every chain) sent to its address: recorded so it can be
    refunded, never counted towards the payment. ``chain`` is filled in when read back.
    """

    key: str
    payment_id: str
    asset: str
    address: str
    units: int
    kind: str
    tx_hash: str | None
    block_number: int
    block_hash: str
    position: int
    stray: bool = False
    chain: str | None = None


@dataclass(frozen=True, slots=True)  # one per issued address: no __dict__ each
class Target:
    """What an issued deposit address belongs to."""

    payment_id: str
    asset: str


@dataclass
class AddressBook:
    """Every deposit address ever issued (lowercase) -> its payment, loaded incrementally."""

    targets: dict[str, Target] = field(default_factory=dict)
    last_index: int = -1
    horizon: int | None = None  # the storage engine's commit-order watermark, if it has one

    def add(self, index: int, address: str, payment_id: str, asset: str) -> None:
        """Remember one issued address."""
        self.targets[address.lower()] = Target(payment_id, asset)
        self.last_index = max(self.last_index, index)

    def retarget(self, address: str, payment_id: str, asset: str) -> None:
        """The payment at ``address`` is now paid in ``asset`` (an invoice's chosen option)."""
        self.targets[address.lower()] = Target(payment_id, asset)

    def get(self, address: str | None) -> Target | None:
        """The payment an address belongs to, if it is one of ours."""
        return self.targets.get(address.lower()) if address else None

    def __len__(self) -> int:
        return len(self.targets)


@dataclass(frozen=True)
class Header:
    """(number, hash, parentHash) of one block, hashes lowercase."""

    number: int
    hash: str
    parent_hash: str

    @classmethod
    def of(cls, block: Mapping[str, Any]) -> Header:
        """The header of a block as the node returned it."""
        return cls(
            int(block["number"]), str(block["hash"]).lower(), str(block["parentHash"]).lower()
        )


@dataclass(frozen=True)
class Rollback:
    """What a rollback to a common ancestor removed."""

    ancestor: int
    deposits_removed: int
    payments: tuple[str, ...]

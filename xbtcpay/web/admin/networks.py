"""The chains as the dashboard shows them: a display name, and links to a block explorer.

Payments name their asset; the asset names its chain. A link is made only from a value
that has the shape of a transaction hash or an address, so nothing stored can turn into
another URL.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

_TX_HASH: Final = re.compile(r"^0x[0-9a-fA-F]{64}\Z")
_ADDRESS: Final = re.compile(r"^0x[0-9a-fA-F]{40}\Z")


@dataclass(frozen=True)
class Network:
    key: str  # the chain's key in the configuration
    name: str  # its display name ("Base")
    chain_id: int
    explorer: str  # a base URL, or "" for none

    def tx_url(self, tx_hash: str | None) -> str | None:
        if not self.explorer or tx_hash is None or not _TX_HASH.match(tx_hash):
            return None
        return f"{self.explorer}/tx/{tx_hash}"

    def address_url(self, address: str | None) -> str | None:
        if not self.explorer or address is None or not _ADDRESS.match(address):
            return None
        return f"{self.explorer}/address/{address}"


@dataclass(frozen=True)
class Networks:
    """Every configured chain by key, and the chain of every asset."""

    chains: Mapping[str, Network] = field(default_factory=dict)
    asset_chain: Mapping[str, str] = field(default_factory=dict)

    def of_asset(self, asset: str) -> Network | None:
        key = self.asset_chain.get(asset)
        return None if key is None else self.chains.get(key)

    def named(self, key: str | None) -> Network | None:
        return None if key is None else self.chains.get(key)

    def assets_on(self, key: str) -> list[str]:
        return sorted(a for a, c in self.asset_chain.items() if c == key)

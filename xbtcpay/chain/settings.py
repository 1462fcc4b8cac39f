"""The ``chains:`` (or single ``chain:``) and ``wallet:`` sections: the nodes the watchers
read and the xpub whose addresses they watch.

``WatcherSettings`` is what one chain's watcher reads; ``ChainScope`` is that view for one
chain of the configuration (the chain and only the assets on it), built by ``scopes_of``.
The root's ``Config`` satisfies ``MultiChainSettings``, so the chain package never imports
the root.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from xbtcpay.core.settings import (
    AssetConfig,
    Confirmations,
    PaymentsConfig,
    Reader,
    WalletConfig,
)

LEGACY_CHAIN = "main"  # the key of the chain a single ``chain:`` section configures
_CHAIN_KEY = re.compile(r"^[a-z0-9_]{1,32}\Z")
# Display names of well-known chain ids, for a chain configured without ``name``.
KNOWN_NETWORKS = {
    1: "Ethereum",
    10: "OP Mainnet",
    56: "BNB Smart Chain",
    137: "Polygon",
    8453: "Base",
    42161: "Arbitrum One",
    11155111: "Sepolia",
    84532: "Base Sepolia",
    31337: "Local development chain",
}
# Block explorers of well-known chain ids, for a chain configured without ``explorer``.
KNOWN_EXPLORERS = {
    1: "https://etherscan.io",
    10: "https://optimistic.etherscan.io",
    56: "https://bscscan.com",
    137: "https://polygonscan.com",
    8453: "https://basescan.org",
    42161: "https://arbiscan.io",
    11155111: "https://sepolia.etherscan.io",
    84532: "https://sepolia.basescan.org",
}


@dataclass(frozen=True)
class ChainConfig:
    rpc_urls: tuple[str, ...]
    chain_id: int
    confirmations: Confirmations
    poll_interval: float
    start_block: int | Literal["latest"] = "latest"
    max_block_range: int = 2000
    reorg_window: int = 128
    reconcile_interval: float = 30
    request_timeout: float = 10.0
    key: str = LEGACY_CHAIN  # its key in ``chains:`` (names its rows in the chain tables)
    name: str = ""  # the display name ("Base"); see ``display_name``
    # a block explorer's base URL (its /tx/<hash> and /address/<address> pages); "" for
    # none, the default of chains that have no public explorer (a local dev chain)
    explorer: str | None = None
    max_lag_blocks: int | None = None  # None: about 60 s of blocks
    stale_after: float | None = None  # None: 10 block times, learnt from the chain
    # node health watched: on for every chain of ``chains:``; for the single ``chain:``
    # section only with max_lag_blocks or stale_after (its behaviour stays as it was)
    health: bool = False

    def __post_init__(self) -> None:
        if not self.name:
            default = KNOWN_NETWORKS.get(self.chain_id, f"chain {self.chain_id}")
            object.__setattr__(self, "name", default)
        if self.explorer is None:
            object.__setattr__(self, "explorer", KNOWN_EXPLORERS.get(self.chain_id, ""))


class WatcherSettings(Protocol):
    """What the watcher reads: the node, the assets, the late window, confirmations."""

    @property
    def chain(self) -> ChainConfig: ...
    @property
    def assets(self) -> Mapping[str, AssetConfig]: ...
    @property
    def payments(self) -> PaymentsConfig: ...
    def confirmations_for(self, asset: str) -> Confirmations: ...


class ChainHandlerSettings(WatcherSettings, Protocol):
    """What the crypto payment method of a chain reads: the watcher's settings and the
    wallet its deposit addresses are derived from."""

    @property
    def wallet(self) -> WalletConfig: ...


class MultiChainSettings(ChainHandlerSettings, Protocol):
    """The whole configuration as the chain package reads it: every chain, every asset."""

    @property
    def chains(self) -> Mapping[str, ChainConfig]: ...


@dataclass(frozen=True)
class ChainScope:
    """One chain of the configuration: its section, the assets on it, and the shared
    payments and wallet sections (one derivation counter serves every chain)."""

    chain: ChainConfig
    assets: Mapping[str, AssetConfig]
    payments: PaymentsConfig
    wallet: WalletConfig

    def confirmations_for(self, asset: str) -> Confirmations:
        own = self.assets[asset].confirmations
        return own if own is not None else self.chain.confirmations


def scopes_of(config: MultiChainSettings) -> list[ChainScope]:
    """One scope per configured chain, in configuration order."""
    return [
        ChainScope(
            chain,
            {n: a for n, a in config.assets.items() if chain_key(a, config.chains) == key},
            config.payments,
            config.wallet,
        )
        for key, chain in config.chains.items()
    ]


def chain_key(asset: AssetConfig, chains: Mapping[str, ChainConfig]) -> str:
    """The chain an asset is on: its ``chain``, else the only configured chain."""
    return asset.chain if asset.chain is not None else next(iter(chains))


_CHAIN_KEYS = (
    "name",
    "explorer",
    "max_lag_blocks",
    "stale_after",
    "rpc_urls",
    "chain_id",
    "confirmations",
    "poll_interval",
    "start_block",
    "max_block_range",
    "reorg_window",
    "reconcile_interval",
    "request_timeout",
)


def parse_chains(
    r: Reader, raw: Mapping[str, Any], assets: Mapping[str, AssetConfig]
) -> dict[str, ChainConfig]:
    """``chains:`` (a map of chains), else the single ``chain:`` section as the chain
    ``main``; every asset's ``chain`` must name one of them."""
    if "chains" not in raw:
        chains = {LEGACY_CHAIN: parse_chain(r, r.section(raw, "chain"))}
    else:
        if "chain" in raw:
            r.bad("chain", "use either chain: (one chain) or chains: (several), not both")
        chains = {}
        section = r.section(raw, "chains")
        if not section:
            r.bad("chains", "expected at least one chain, e.g. l1: {chain_id: 1, rpc_urls: [...]}")
        for key, spec in section.items():
            where = f"chains.{key}"
            if not isinstance(key, str) or not _CHAIN_KEY.match(key):
                r.bad(where, "chain names are lowercase letters, digits and _")
            elif not isinstance(spec, dict):
                r.bad(where, "expected a mapping")
            else:
                chains[key] = parse_chain(r, spec, where, key)
        owners: dict[int, str] = {}
        for key, chain in chains.items():
            if chain.chain_id in owners:
                r.bad(f"chains.{key}.chain_id", f"the same as chains.{owners[chain.chain_id]}")
            owners.setdefault(chain.chain_id, key)
    for name, asset in assets.items():
        if asset.chain is not None and chains and asset.chain not in chains:
            r.bad(
                f"assets.{name}.chain", f"{asset.chain!r} is not one of chains: {', '.join(chains)}"
            )
        elif asset.chain is None and len(chains) > 1:
            r.bad(f"assets.{name}.chain", f"required with several chains: {', '.join(chains)}")
    return chains


def parse_chain(
    r: Reader, s: dict[str, Any], where: str = "chain", key: str = LEGACY_CHAIN
) -> ChainConfig:
    r.known(where, s, _CHAIN_KEYS)
    urls = s.get("rpc_urls", ["http://127.0.0.1:8545"])
    if (
        not isinstance(urls, list)
        or not urls
        or not all(isinstance(u, str) and re.match(r"^(https?|wss?)://", u) for u in urls)
    ):
        r.bad(f"{where}.rpc_urls", "expected a non-empty list of http(s):// or ws(s):// URLs")
        urls = []
    start = s.get("start_block", "latest")
    if start != "latest":
        start = r.int(f"{where}.start_block", start, 0)
    name = s.get("name", "")
    if not isinstance(name, str) or len(name) > 64:
        r.bad(f"{where}.name", "expected a display name of at most 64 characters")
        name = ""
    explorer = s.get("explorer")
    if explorer not in (None, "") and (
        not isinstance(explorer, str)
        or len(explorer) > 200
        or not re.match(r"^https?://[^\s/?#]+(/[^\s?#]*)?\Z", explorer)
    ):
        r.bad(
            f"{where}.explorer", "expected a block explorer's base URL, e.g. https://basescan.org"
        )
        explorer = None
    lag = s.get("max_lag_blocks")
    stale = s.get("stale_after")
    return ChainConfig(
        rpc_urls=tuple(urls),
        chain_id=r.int(f"{where}.chain_id", s.get("chain_id", 31337), 1),
        confirmations=r.confirmations(f"{where}.confirmations", s.get("confirmations", 3)),
        poll_interval=r.number(f"{where}.poll_interval", s.get("poll_interval", 2), 0.05),
        start_block=start,
        max_block_range=r.int(f"{where}.max_block_range", s.get("max_block_range", 2000), 1),
        reorg_window=r.int(f"{where}.reorg_window", s.get("reorg_window", 128), 4),
        reconcile_interval=r.number(
            f"{where}.reconcile_interval", s.get("reconcile_interval", 30), 0.05
        ),
        request_timeout=r.number(f"{where}.request_timeout", s.get("request_timeout", 10), 0.1),
        key=key,
        name=name.strip(),
        explorer=None if explorer is None else explorer.rstrip("/"),
        max_lag_blocks=None if lag is None else r.int(f"{where}.max_lag_blocks", lag, 1),
        stale_after=None if stale is None else r.number(f"{where}.stale_after", stale, 0.1),
        health=where != "chain" or lag is not None or stale is not None,
    )


def parse_wallet(r: Reader, s: dict[str, Any]) -> WalletConfig:
    """The xpub is decoded here so a typo is refused at start-up, not at the first payment."""
    r.known("wallet", s, ("xpub", "first_index"))
    xpub = s.get("xpub")
    if not isinstance(xpub, str) or not xpub.startswith(("xpub", "tpub")):
        r.bad("wallet.xpub", "expected a BIP44 account-level extended public key (xpub...)")
        xpub = ""
    else:
        from xbtcpay.chain.wallet import InvalidXpub, parse_xpub

        try:
            parse_xpub(xpub)
        except InvalidXpub as exc:
            r.bad("wallet.xpub", str(exc))
    return WalletConfig(
        xpub=xpub, first_index=r.int("wallet.first_index", s.get("first_index", 0), 0)
    )

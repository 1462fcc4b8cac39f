"""The ``chain:`` and ``wallet:`` sections: the node the watcher reads and the xpub it watches.

``WatcherSettings`` is what the watcher reads of the whole configuration; the root's
``Config`` satisfies it, so the chain package never imports the root.
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


_CHAIN_KEYS = (
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


def parse_chain(r: Reader, s: dict[str, Any]) -> ChainConfig:
    r.known("chain", s, _CHAIN_KEYS)
    urls = s.get("rpc_urls", ["http://127.0.0.1:8545"])
    if (
        not isinstance(urls, list)
        or not urls
        or not all(isinstance(u, str) and re.match(r"^(https?|wss?)://", u) for u in urls)
    ):
        r.bad("chain.rpc_urls", "expected a non-empty list of http(s):// or ws(s):// URLs")
        urls = []
    start = s.get("start_block", "latest")
    if start != "latest":
        start = r.int("chain.start_block", start, 0)
    return ChainConfig(
        rpc_urls=tuple(urls),
        chain_id=r.int("chain.chain_id", s.get("chain_id", 31337), 1),
        confirmations=r.confirmations("chain.confirmations", s.get("confirmations", 3)),
        poll_interval=r.number("chain.poll_interval", s.get("poll_interval", 2), 0.05),
        start_block=start,
        max_block_range=r.int("chain.max_block_range", s.get("max_block_range", 2000), 1),
        reorg_window=r.int("chain.reorg_window", s.get("reorg_window", 128), 4),
        reconcile_interval=r.number(
            "chain.reconcile_interval", s.get("reconcile_interval", 30), 0.05
        ),
        request_timeout=r.number("chain.request_timeout", s.get("request_timeout", 10), 0.1),
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

"""The built-in crypto payment method on one chain, as a payment method handler.

It wraps what is specific to an EVM chain: deposit addresses derived from the wallet's
account xpub (``chain.wallet``), EIP-681 payment URIs (``chain.eip681``) and the watcher
that follows deposits (``chain.watcher``). One handler is built per configured chain
(``handlers_for``), serving the assets on that chain only: a transfer of another chain's
asset, or on another chain, is never seen by this chain's watcher.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import aiohttp
from prometheus_client import Counter, Gauge

from xbtcpay.chain.client import ChainClient, redact
from xbtcpay.chain.deposits import AddressBook
from xbtcpay.chain.eip681 import payment_uri
from xbtcpay.chain.health import NodeHealth
from xbtcpay.chain.settings import LEGACY_CHAIN, ChainHandlerSettings
from xbtcpay.chain.wallet import AddressDeriver
from xbtcpay.chain.watcher import Watcher, http_urls
from xbtcpay.core.chain_head import ChainHead
from xbtcpay.core.handlers import DepositPlan, LeaderJob, PaymentDriver
from xbtcpay.core.models import CRYPTO, Payment
from xbtcpay.storage.chain_store import ChainStore


@dataclass(frozen=True)
class ChainAccess:
    """What a watcher of one chain runs on: the chain tables (fenced by the leader lease),
    the daemon's HTTP session, the head it moves and the counter of node calls."""

    store: ChainStore
    session: aiohttp.ClientSession
    head: ChainHead
    rpc_calls: Counter
    head_age: Gauge | None = None  # xbtcpay_chain_head_age_seconds{chain}
    rpc_stale: Gauge | None = None  # xbtcpay_chain_rpc_stale{chain,url}
    book: AddressBook | None = None  # the issued addresses, shared by the chains' watchers


class ChainHandler:
    """Crypto payments on one configured chain: addresses, URIs and the watcher job.

    Without ``access`` (tools that only render payments) it has no jobs; with ``watch``
    false (tests that drive their own watcher) neither.
    """

    method = CRYPTO

    def __init__(
        self,
        config: ChainHandlerSettings,
        access: ChainAccess | None = None,
        *,
        watch: bool = False,
    ) -> None:
        self.config = config
        self.access = access
        self.watch = watch
        xpub = config.wallet.xpub
        # storage keeps addresses in lower case: derive them so, without the EIP-55 checksum
        self._deriver: Callable[[int], str] | None = (
            AddressDeriver(xpub).lowercase_address if xpub else None
        )

    def serves(self, asset: str) -> bool:
        return asset in self.config.assets

    def deposit_plan(self) -> DepositPlan | None:
        if self._deriver is None:
            return None
        return DepositPlan(self.config.wallet.first_index, self._deriver)

    def payment_uri(self, payment: Payment) -> str | None:
        """EIP-681 for the outstanding amount (the whole amount once nothing is owed)."""
        asset = self.config.assets.get(payment.asset) if payment.method == CRYPTO else None
        if asset is None or payment.address is None:
            return None
        outstanding = payment.amount - payment.amount_received
        if outstanding <= 0:
            outstanding = payment.amount
        units = int(outstanding.scaleb(asset.decimals))
        return payment_uri(
            contract=asset.contract,
            native=asset.native,
            chain_id=self.config.chain.chain_id,
            address=payment.address,
            units=units,
        )

    def watcher(self, payments: PaymentDriver) -> Watcher:
        """A new watcher of this chain (its own node client over the daemon's session)."""
        access, chain = self.access, self.config.chain
        if access is None:
            raise RuntimeError("this chain handler has no chain access to watch with")
        client = ChainClient(
            http_urls(chain.rpc_urls), timeout=chain.request_timeout, session=access.session
        )
        health = None
        if chain.health:
            health = NodeHealth(
                tuple(client.http_urls), chain.max_lag_blocks, chain.stale_after, time.monotonic
            )
        return Watcher(
            self.config,
            payments,
            access.store,
            client,
            access.head.set,
            access.rpc_calls,
            health,
            self._publish_health,
            access.book,
        )

    def _publish_health(self, health: NodeHealth) -> None:
        """The verdict where /healthz, /metrics, the pages and expiry read it."""
        access, key = self.access, self.config.chain.key
        if access is None:
            return
        head = access.head
        head.stale = health.all_stale
        head.stale_urls = tuple(redact(u) for u in health.stale_urls)
        head.head_age = health.head_age()
        if access.head_age is not None and head.head_age is not None:
            access.head_age.labels(key).set(round(head.head_age, 3))
        if access.rpc_stale is not None:
            for url, seen in health.heads.items():
                access.rpc_stale.labels(key, redact(url)).set(int(seen.stale))

    def leader_jobs(self, payments: PaymentDriver) -> list[LeaderJob]:
        """The watcher, when this daemon watches and a node is configured; /healthz reports
        from now on whether its head is fresh. Each chain's watcher is a job of its own, so
        a chain whose node is down never holds up another's."""
        if self.access is None or not self.watch or not self.config.chain.rpc_urls:
            return []
        key = self.config.chain.key
        name = "watcher" if key == LEGACY_CHAIN else f"watcher-{key}"
        job: LeaderJob = (name, self.watcher(payments).run)
        self.access.head.watched = True
        return [job]

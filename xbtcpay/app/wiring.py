"""Assemble one daemon from its config (the polls demo's ``main.py``).

Resources (the database, the HTTP sessions) open and close in async context managers the
daemon stacks; the domain objects are each built here from exactly the collaborators they
use, and the services (funds, commerce) plug in through their own ``register`` functions.
The result, ``Parts``, belongs to the ``Daemon``: handlers and services never see it, they
get their collaborators or read them from the applications' typed keys.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from xbtcpay.app.config import Config
from xbtcpay.books import service as books
from xbtcpay.chain.deposits import AddressBook
from xbtcpay.chain.handler import ChainAccess, ChainHandler
from xbtcpay.chain.settings import scopes_of
from xbtcpay.cluster.leadership import Leadership, default_replica_id
from xbtcpay.commerce import wiring as commerce
from xbtcpay.commerce.media_access.wiring import Media
from xbtcpay.core.catalog import Catalog
from xbtcpay.core.chain_head import ChainHead
from xbtcpay.core.feed import PaymentFeed
from xbtcpay.core.handlers import PaymentHandlers
from xbtcpay.core.invoices import Invoicing
from xbtcpay.core.methods import CoreMethods
from xbtcpay.core.metrics import Metrics
from xbtcpay.core.persistence import Engine
from xbtcpay.core.postback import PostbackSender
from xbtcpay.core.processor import PaymentProcessor
from xbtcpay.core.registrations import Registrations
from xbtcpay.core.registry import MethodRegistry
from xbtcpay.plugin_api import Plugin
from xbtcpay.plugin_api.charging import Charger
from xbtcpay.rates import service as rates
from xbtcpay.rates.requote import INTERVAL as REQUOTE_INTERVAL
from xbtcpay.rates.requote import Requoter
from xbtcpay.refunds import wiring as refunds
from xbtcpay.refunds.claim import RefundClaims
from xbtcpay.storage.chain_store import ChainStore
from xbtcpay.storage.engines import open_engine
from xbtcpay.storage.payments import PaymentStore
from xbtcpay.storage.postbacks import PostbackStore
from xbtcpay.sweep import service as funds
from xbtcpay.web.status_cache import StatusCache, refresh_on_transition


@asynccontextmanager
async def database(config: Config, synchronous: str) -> AsyncIterator[Engine]:
    """The database, migrated; closed (flushed) when the daemon stops."""
    password = config.database_password.reveal() if config.database_password else None
    db = await open_engine(
        config.database,
        password=password,
        pool_size=config.database_pool_size,
        synchronous=synchronous,
    )
    try:
        yield db
    finally:
        await db.close()


@asynccontextmanager
async def http_session(**options: Any) -> AsyncIterator[aiohttp.ClientSession]:
    """An HTTP client session (the node's, or the postbacks' with their own connector)."""
    session = aiohttp.ClientSession(**options)
    try:
        yield session
    finally:
        await session.close()


@dataclass
class Parts:
    """The long-lived objects of one running daemon (the daemon's, and its tests')."""

    config: Config
    db: Engine
    payments: PaymentStore
    postbacks: PostbackStore
    processor: PaymentProcessor
    registry: MethodRegistry
    core: CoreMethods
    catalog: Catalog
    metrics: Metrics
    sender: PostbackSender
    leadership: Leadership
    head: ChainHead
    feed: PaymentFeed
    status_cache: StatusCache
    handlers: PaymentHandlers
    chain: ChainHandler  # the primary chain's (the default asset's)
    registrations: Registrations
    commerce: commerce.Commerce
    plugins: dict[str, Plugin] = field(default_factory=dict)  # the started ones
    chains: dict[str, ChainHandler] = field(default_factory=dict)  # every chain's, by key
    refund_claims: RefundClaims | None = None  # the claim page's service

    @property
    def media(self) -> Media:
        return self.commerce.media


def assemble(
    config: Config,
    db: Engine,
    session: aiohttp.ClientSession,
    postback_session: aiohttp.ClientSession,
    plugins: Mapping[str, Plugin],
    *,
    clock: Callable[[], float] = time.time,
    watch: bool = True,
) -> Parts:
    """Wire the domain objects of one daemon over its open resources."""
    replica_id = config.cluster.replica_id or default_replica_id()
    payments = PaymentStore(db)
    postbacks = PostbackStore(
        db,
        owner=replica_id,
        host_limit=max(1, config.postback.concurrency // 4),
        claim_for=config.postback.timeout + 5,
    )
    # one SQLite file has one daemon: it takes the lease at once, fencing any older process
    leadership = Leadership(
        db,
        replica_id,
        config.cluster.lease_ttl,
        take_over=not db.shared,
        renew=db.shared,
        clock=clock,
    )
    metrics = Metrics()
    sender = PostbackSender(config.postback, postbacks, postback_session, metrics, clock=clock)
    feed = PaymentFeed()
    primary = metrics.chain_block.labels(config.chain.key)

    def primary_gauge(number: int) -> None:  # the unlabelled gauge, as before, and the chain's
        metrics.chain_head.set(number)
        primary.set(number)

    head = ChainHead(feed, primary_gauge, config.chain.key)
    chains: dict[str, ChainHandler] = {}
    book = AddressBook()  # one copy of the issued addresses for every chain's watcher
    for scope in scopes_of(config):
        key = scope.chain.key
        gauge = metrics.chain_block.labels(key).set
        own = head if key == config.chain.key else head.add_chain(key, gauge)
        store = ChainStore(db, leadership.fence, key)
        access = ChainAccess(
            store,
            session,
            own,
            metrics.chain_rpc_calls,
            metrics.chain_head_age,
            metrics.chain_rpc_stale,
            book,
        )
        chains[key] = ChainHandler(scope, access, watch=watch)
    chain = chains[config.chain.key]
    handlers = PaymentHandlers(chains.values())
    processor = PaymentProcessor(
        config,
        payments,
        postbacks,
        handlers=handlers,
        clock=clock,
        on_postback=sender.notify,
        on_transition=feed.publish_transition,
    )
    registry = MethodRegistry()
    registrations = Registrations()
    rate_book = None
    if config.rates is not None:
        nodes = rates.chain_nodes(config.chains, config.chain.key, session)
        rate_book = rates.register(
            config.rates, session, config.assets, nodes, registry, registrations
        ).book
    quoter = None if rate_book is None else rates.BookQuoter(rate_book)
    catalog = Catalog(config.products)
    invoicing = Invoicing(config.pricing, quoter, config.assets, config.default_asset, catalog)
    core = CoreMethods(config, processor, handlers, ChainStore(db), invoicing)
    if quoter is not None:
        requoter = Requoter(invoicing, processor, payments, ChainStore(db))
        registrations.jobs.append(("invoice-requote", requoter.run, REQUOTE_INTERVAL))
    core.register(registry)
    status_cache = StatusCache(max_entries=config.public.status_cache_size)
    feed.on_transition(refresh_on_transition(status_cache, config, core, head))
    feed.on_transition(metrics.count_transition)
    funds.register(config, db, metrics.registry, registry, registrations)
    books.register(
        db, config.assets, config.commerce.virtual_currencies, rate_book, registry, config.chain.key
    )
    refund_claims = refunds.register(
        config,
        config.public.base_url,
        db,
        processor,
        rate_book,
        metrics.registry,
        registry,
        registrations,
        config.chain.poll_interval,
        clock,
    )
    chargers = {name: p for name, p in plugins.items() if isinstance(p, Charger)}
    shop = commerce.register(
        config,
        config.public.base_url,
        db,
        catalog,
        processor,
        chargers,
        clock,
        metrics.registry,
        registry,
        registrations,
        postback_session,
    )
    return Parts(
        config=config,
        db=db,
        payments=payments,
        postbacks=postbacks,
        processor=processor,
        registry=registry,
        core=core,
        catalog=catalog,
        metrics=metrics,
        sender=sender,
        leadership=leadership,
        head=head,
        feed=feed,
        status_cache=status_cache,
        handlers=handlers,
        chain=chain,
        chains=chains,
        registrations=registrations,
        commerce=shop,
        refund_claims=refund_claims,
    )

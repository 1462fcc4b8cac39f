"""The composition root: every long-lived object of one daemon, built from its config."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import aiohttp

from xbtcpay.app.config import Config
from xbtcpay.app.plugins import Registrations
from xbtcpay.chain.wallet import AddressDeriver
from xbtcpay.cluster.leadership import Leadership, default_replica_id
from xbtcpay.commerce.media_access.wiring import Media, build_media
from xbtcpay.core.catalog import Catalog
from xbtcpay.core.feed import PaymentFeed
from xbtcpay.core.methods import CoreMethods
from xbtcpay.core.metrics import Metrics
from xbtcpay.core.models import Payment
from xbtcpay.core.postback import PostbackSender
from xbtcpay.core.postback_target import postback_connector
from xbtcpay.core.processor import PaymentProcessor
from xbtcpay.core.registry import MethodRegistry
from xbtcpay.plugin_api import Plugin
from xbtcpay.storage.engines import open_engine
from xbtcpay.storage.payments import PaymentStore
from xbtcpay.storage.postbacks import PostbackStore
from xbtcpay.storage.protocol import Engine
from xbtcpay.web.status_cache import StatusCache, render_status

if TYPE_CHECKING:
    from xbtcpay.commerce.wiring import Commerce


@dataclass
class Runtime:
    """Shared state of a running daemon (lives on the apps under keys.RUNTIME)."""

    config: Config
    db: Engine
    payments: PaymentStore
    postbacks: PostbackStore
    processor: PaymentProcessor
    registry: MethodRegistry
    core: CoreMethods
    catalog: Catalog
    metrics: Metrics
    session: aiohttp.ClientSession
    sender: PostbackSender
    leadership: Leadership
    plugins: dict[str, Plugin] = field(default_factory=dict)
    registrations: Registrations = field(default_factory=Registrations)
    chain_head: int | None = None
    chain_head_at: float | None = None
    watcher_enabled: bool = False
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    status_cache: StatusCache = field(default_factory=StatusCache)
    commerce: Commerce | None = None
    feed: PaymentFeed = field(default_factory=PaymentFeed)
    media: Media | None = None

    def set_head(self, number: int) -> None:
        """Called by the watcher on every new head."""
        self.chain_head = number
        self.chain_head_at = time.time()
        self.metrics.chain_head.set(number)
        self.feed.publish_head(number)


async def build_runtime(
    config: Config, *, clock: Callable[[], float] = time.time, synchronous: str = "FULL"
) -> Runtime:
    """Open the database (migrated), the HTTP session, and wire the domain objects."""
    password = config.database_password.reveal() if config.database_password else None
    db = await open_engine(
        config.database,
        password=password,
        pool_size=config.database_pool_size,
        synchronous=synchronous,
    )
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
    session = aiohttp.ClientSession()
    postback_session = aiohttp.ClientSession(
        connector=postback_connector(config.postback.allow_private)
    )
    sender = PostbackSender(config.postback, postbacks, postback_session, metrics, clock=clock)
    deriver = AddressDeriver(config.wallet.xpub) if config.wallet.xpub else None

    status_cache = StatusCache(max_entries=config.public.status_cache_size)
    processor = PaymentProcessor(
        config, payments, deriver=deriver, clock=clock, on_postback=sender.notify
    )
    registry = MethodRegistry()
    core = CoreMethods(config, processor)
    runtime_ref: list[Runtime] = []
    feed = PaymentFeed()

    def on_transition(payment: Payment, event: str) -> None:
        # the status.json body is re-rendered from the committed payment, so browsers polling
        # an open payment are answered from memory
        head = runtime_ref[0].chain_head if runtime_ref else None
        body, live = render_status(config, core, payment, head)
        status_cache.replace(payment.id, body, live=live, head=head)
        metrics.transitions.labels(event).inc()
        feed.publish_payment(payment, event)

    processor.on_transition = on_transition
    core.register(registry)
    registrations = Registrations()
    _register_funds(config, db, metrics, registry, registrations)
    runtime = Runtime(
        config=config,
        db=db,
        payments=payments,
        postbacks=postbacks,
        processor=processor,
        registry=registry,
        core=core,
        catalog=Catalog(config.products),
        metrics=metrics,
        session=session,
        sender=sender,
        leadership=leadership,
        status_cache=status_cache,
        feed=feed,
        registrations=registrations,
    )
    runtime_ref.append(runtime)
    runtime.media = build_media(config, db, registry, clock)
    if runtime.media.sells_media:  # no subscription/ownage/ppv product: nothing to run
        runtime.registrations.jobs.append(
            ("commerce-expiry", runtime.media.expire_due, config.media_access.expiry_interval)
        )
        runtime.registrations.jobs.append(
            (
                "subscription-bridge",
                runtime.media.follow_payments,
                config.media_access.bridge_interval,
            )
        )
    runtime.registrations.subscription_listeners.append(runtime.media.subscriptions.from_plugin)
    return runtime


def _register_funds(
    config: Config,
    db: Engine,
    metrics: Metrics,
    registry: MethodRegistry,
    registrations: Registrations,
) -> None:
    """``funds.summary`` and the funds gauges (xbtcpay.sweep)."""
    from xbtcpay.sweep.records import SweepStore
    from xbtcpay.sweep.service import FundsGauges, FundsService

    service = FundsService(config, SweepStore(db), FundsGauges(metrics.registry))
    service.register(registry, registrations)


async def warm_status_cache(runtime: Runtime, batch: int = 2000) -> int:
    """Render status.json of open payments into the cache (``public.status_cache_warm``)."""
    cache, done = runtime.status_cache, 0
    while done < cache.max_entries:
        epoch = cache.epoch
        rows = await runtime.payments.search(status="new", limit=batch, offset=done)
        if not rows:
            break
        for p in rows:
            body, live = render_status(runtime.config, runtime.core, p, runtime.chain_head)
            cache.put(p.id, body, live=live, head=runtime.chain_head, read_epoch=epoch)
        done += len(rows)
        await asyncio.sleep(0)
    return done

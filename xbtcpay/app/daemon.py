"""The daemon: two aiohttp applications (private, public) over the parts of one daemon.

Start order: database + migrations, HTTP sessions, the domain objects and the services'
registrations (``app.wiring``), plugins (they register methods, routes, jobs), the leader
lease, both ports bound, background tasks (postbacks, expiry, watcher, plugin jobs), then
READY. Every resource is entered on one ``AsyncExitStack``, so stop runs the reverse order:
in-flight requests finish, tasks stop, the lease is released, plugins close, the sessions
close and the database flushes last.
"""

from __future__ import annotations

import asyncio
import functools
import signal
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any, Self

import structlog
from aiohttp import web

from xbtcpay.app.config import Config
from xbtcpay.app.dashboard import dashboard_app, dashboard_guard, dashboard_parts, mount_dashboard
from xbtcpay.app.plugins import Context, check_version, discover
from xbtcpay.app.wiring import Parts, assemble, database, http_session
from xbtcpay.cluster.expiry import expire_due
from xbtcpay.cluster.leadership import LeaderJob, Leadership
from xbtcpay.core.errors import PluginError
from xbtcpay.core.models import CRYPTO, Payment
from xbtcpay.core.postback_target import postback_connector
from xbtcpay.core.tasks import every, supervise
from xbtcpay.plugin_api import Plugin
from xbtcpay.storage.api_keys import ApiKeyStore
from xbtcpay.storage.chain_store import ChainStore
from xbtcpay.web import keys, public, status_fast
from xbtcpay.web.browser_guard import browser_guard_middleware
from xbtcpay.web.checkout import setup_checkout
from xbtcpay.web.connections import (
    GuardedSite,
    RateLimitedLog,
    accept_error_handler,
    raise_open_files_limit,
)
from xbtcpay.web.dispatch import Dispatcher
from xbtcpay.web.input_guard import input_guard_middleware
from xbtcpay.web.key_auth import KeyChecker, KeyPolicy, key_middleware
from xbtcpay.web.middlewares import context_middleware, whitelist_middleware
from xbtcpay.web.nexx_routes import setup_nexx_routes
from xbtcpay.web.policy import SessionPolicy, ShopPolicy
from xbtcpay.web.purchase_endpoint import setup_purchase_routes
from xbtcpay.web.receipt_page import ReceiptPage, setup_receipt_page
from xbtcpay.web.refund_page import setup_refund_page
from xbtcpay.web.rpc import setup_rpc
from xbtcpay.web.status_cache import read_status, warm_status_cache
from xbtcpay.web.status_feed import StatusFeed

log = structlog.get_logger("xbtcpay.app")


def _base_app(parts: Parts, port_name: str, middlewares: list[Any]) -> web.Application:
    app = web.Application(middlewares=middlewares, client_max_size=parts.config.rpc.max_body)
    app[keys.CONFIG] = parts.config
    app[keys.REGISTRY] = parts.registry
    app[keys.CORE] = parts.core
    app[keys.PORT_NAME] = port_name
    # /healthz (both ports)
    app[keys.DATABASE] = parts.db
    app[keys.CHAIN_HEAD] = parts.head
    app[keys.LEADERSHIP] = parts.leadership
    app[keys.PAYMENTS] = parts.payments
    return app


def private_app(parts: Parts) -> web.Application:
    rpc = parts.config.rpc
    middlewares = [whitelist_middleware(rpc)] if rpc.auth in ("whitelist", "both") else []
    middlewares.append(browser_guard_middleware(rpc))
    policy = ShopPolicy()
    if rpc.auth in ("keys", "both"):
        checker = KeyChecker(ApiKeyStore(parts.db), parts.processor.now)
        middlewares.append(key_middleware(rpc, checker))
        policy = KeyPolicy(checker)
    admin = parts.config.admin
    dashboard = dashboard_parts(parts) if admin.enabled and admin.listen is None else None
    if dashboard is not None:
        middlewares.append(dashboard_guard(dashboard))
    middlewares.append(context_middleware(parts.metrics, "private"))
    app = _base_app(parts, "private", middlewares)
    if dashboard is not None:
        mount_dashboard(app, dashboard)
    app[keys.METRICS] = parts.metrics
    app[keys.POSTBACKS] = parts.postbacks
    setup_rpc(app, _dispatcher(parts), policy, max_body=rpc.max_body)
    app.router.add_get("/metrics", public.metrics)
    app.router.add_get("/healthz", public.healthz)
    setup_purchase_routes(app, parts.registry, policy)
    setup_nexx_routes(app, _dispatcher(parts), policy, max_body=parts.config.rpc.max_body)
    return app


def _dispatcher(parts: Parts) -> Dispatcher:
    allow_private = parts.config.postback.allow_private
    return Dispatcher(parts.registry, allow_private_postbacks=allow_private)


def _customer_routes(app: web.Application, parts: Parts) -> None:
    """The public port's commerce: purchase, receipt pages, the session-guarded transports."""
    commerce = parts.commerce
    policy = SessionPolicy(commerce.sessions, commerce.customer_methods)
    setup_purchase_routes(app, parts.registry, policy)
    methods = commerce.methods
    page = ReceiptPage(methods.receipts, methods.currency, parts.config.commerce.company)
    setup_receipt_page(app, page)
    setup_rpc(app, _dispatcher(parts), policy, max_body=parts.config.rpc.max_body)
    setup_nexx_routes(app, _dispatcher(parts), policy, max_body=parts.config.rpc.max_body)


def public_app(parts: Parts) -> web.Application:
    app = _base_app(
        parts,
        "public",
        [
            public.cors_middleware(parts.config.public.cors_origins),
            context_middleware(parts.metrics, "public"),
            input_guard_middleware(),
        ],
    )
    app[keys.STATUS_CACHE] = parts.status_cache
    app.router.add_get("/healthz", public.healthz_public)
    app.router.add_get("/{id}/status.json", public.status_json)
    app[keys.CHECKOUT] = setup_checkout(
        app,
        parts.config,
        parts.core,
        parts.payments,
        parts.head,
        parts.feed,
        parts.plugins,
        parts.processor.now,
    )
    if parts.refund_claims is not None:
        setup_refund_page(app, parts.refund_claims)
    for method, path, handler in parts.registrations.routes:
        app.router.add_route(method, path, handler)
    _customer_routes(app, parts)
    return app


class Daemon:
    """One running xbtcpay: ``await start()``, ``await stop()`` (or ``async with``)."""

    def __init__(
        self,
        config: Config,
        *,
        plugins: dict[str, Plugin] | None = None,
        watcher: bool = True,
        clock: Callable[[], float] = time.time,
        expiry_interval: float = 5.0,
        synchronous: str = "FULL",
    ) -> None:
        self.config = config
        self._plugins = plugins
        self._watcher = watcher
        self._clock = clock
        self._expiry_interval = expiry_interval
        self._synchronous = synchronous
        self.parts: Parts | None = None
        self.status_feed: StatusFeed | None = None  # on a shared database
        self.background: dict[str, asyncio.Task[None]] = {}  # supervised tasks by name
        self._stack: AsyncExitStack | None = None
        self._runners: list[web.AppRunner] = []
        self.rpc_port = 0
        self.public_port = 0
        self.admin_port = 0  # admin.listen's, when the dashboard has a port of its own
        self._notes = RateLimitedLog()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self) -> None:
        self._stack = stack = AsyncExitStack()
        try:
            await self._start(stack)
        except BaseException:
            await self.stop()
            raise
        parts = self.parts
        assert parts is not None
        log.info(
            "daemon.ready",
            rpc=f"{self.config.rpc.listen.host}:{self.rpc_port}",
            public=f"{self.config.public.listen.host}:{self.public_port}",
            plugins=sorted(parts.plugins),
            watcher=parts.head.watched,
        )

    async def _start(self, stack: AsyncExitStack) -> None:
        config = self.config
        db = await stack.enter_async_context(database(config, self._synchronous))
        postback_session = await stack.enter_async_context(
            http_session(connector=postback_connector(config.postback.allow_private))
        )
        session = await stack.enter_async_context(http_session())
        plugins = self._plugins if self._plugins is not None else discover(config.plugins)
        self.parts = parts = assemble(
            config, db, session, postback_session, plugins, clock=self._clock, watch=self._watcher
        )
        await stack.enter_async_context(_started_plugins(parts, plugins))
        await stack.enter_async_context(_leading(parts.leadership))
        feed = None
        if db.shared:  # one SQLite file has one daemon: nothing to follow
            feed = StatusFeed(
                parts.payments,
                ChainStore(db),
                parts.status_cache,
                parts.feed,
                parts.head,
                parts.leadership,
            )
            await feed.prime()  # before the first body is cached
        self.status_feed = feed
        tasks = await stack.enter_async_context(_background_tasks())
        self.rpc_port = await self._serve(stack, private_app(parts), config.rpc.listen, config.rpc)
        self.public_port = await self._serve(
            stack,
            public_app(parts),
            config.public.listen,
            config.public,
            front=lambda r: status_fast.install(
                r,
                parts.status_cache,
                parts.head,
                config.public.cors_origins,
                parts.metrics.registry,
                functools.partial(
                    read_status,
                    parts.status_cache,
                    parts.payments,
                    parts.config,
                    parts.core,
                    parts.head,
                ),
            ),
        )
        admin = config.admin
        if admin.enabled and admin.listen is not None:
            self.admin_port = await self._serve(
                stack, dashboard_app(parts, dashboard_parts(parts)), admin.listen, config.rpc
            )
        self._start_tasks(parts, tasks, feed)

    async def _serve(
        self,
        stack: AsyncExitStack,
        app: web.Application,
        listen: Any,
        limits: Any,
        front: Callable[[web.AppRunner], Any] | None = None,
    ) -> int:
        runner = web.AppRunner(
            app, access_log=None, shutdown_timeout=10, keepalive_timeout=limits.idle_timeout
        )
        await runner.setup()
        stack.push_async_callback(runner.cleanup)  # in-flight requests finish on stop
        if front is not None:
            front(runner)
        self._runners.append(runner)
        site = GuardedSite(
            runner,
            listen.host,
            listen.port,
            per_client=limits.max_connections_per_client,
            header_timeout=limits.header_timeout,
            notes=self._notes,
        )
        await site.start()
        server = site._server
        assert server is not None
        return int(server.sockets[0].getsockname()[1])  # type: ignore[attr-defined]

    def _start_tasks(
        self, parts: Parts, tasks: list[asyncio.Task[None]], feed: StatusFeed | None
    ) -> None:
        def spawn(name: str, run: Callable[[], Any]) -> None:
            task = asyncio.create_task(supervise(name, run), name=name)
            tasks.append(task)
            self.background[name] = task

        spawn("postbacks", parts.sender.run)
        if self.config.public.status_cache_warm:
            tasks.append(asyncio.create_task(_warm(parts), name="status-cache-warmup"))
        if feed is not None:
            spawn("status-feed", feed.run)
        # the leader's jobs: run by exactly one replica at a time (xbtcpay/cluster.py)
        processor = parts.processor
        jobs: list[LeaderJob] = [
            ("expiry", lambda: every(self._expiry_interval, lambda: _expire(parts)))
        ]
        for name, job, interval in parts.registrations.jobs:
            jobs.append((name, functools.partial(every, interval, job)))
        jobs += parts.handlers.leader_jobs(processor)
        spawn("leadership", functools.partial(parts.leadership.run, jobs))

    async def stop(self) -> None:
        stack, self._stack = self._stack, None
        try:
            if stack is not None:
                await stack.aclose()
        finally:
            self._runners.clear()
        if self.parts is None:
            return
        self.parts = None
        self.status_feed = None
        self.background.clear()
        log.info("daemon.stopped")


@asynccontextmanager
async def _started_plugins(parts: Parts, plugins: Mapping[str, Plugin]) -> AsyncIterator[None]:
    """Set every plugin up (one that fails aborts start-up); close the started ones."""
    try:
        for name, plugin in plugins.items():
            await _start_plugin(parts, name, plugin)
        yield
    finally:
        for plugin in parts.plugins.values():
            try:
                await plugin.close()
            except Exception:
                log.exception("plugin.close_failed")


async def _start_plugin(parts: Parts, name: str, plugin: Plugin) -> None:
    config = parts.config
    check_version(name, plugin)
    ctx = Context(
        name,
        config.plugins.get(name, {}),
        base_dir=config.base_dir,
        base_url=config.public.base_url,
        catalog=parts.catalog,
        processor=parts.processor,
        store=parts.payments,
        registry=parts.registry,
        registrations=parts.registrations,
    )
    try:
        await plugin.setup(ctx)
    except PluginError:
        raise
    except Exception as exc:
        raise PluginError(f"plugin {name!r} failed to start: {exc}") from exc
    parts.plugins[name] = plugin
    log.info("plugin.started", plugin=name)


@asynccontextmanager
async def _leading(leadership: Leadership) -> AsyncIterator[None]:
    """A lone daemon leads from its first request on; a clean stop gives the lease up."""
    try:
        await leadership.step()
        yield
    finally:
        await leadership.release()


@asynccontextmanager
async def _background_tasks() -> AsyncIterator[list[asyncio.Task[None]]]:
    """The daemon's tasks, spawned into the yielded list; cancelled (10 s grace) on stop."""
    tasks: list[asyncio.Task[None]] = []
    try:
        yield tasks
    finally:
        for task in tasks:
            task.cancel()
        _, stuck = await asyncio.wait(tasks, timeout=10) if tasks else (set(), set())
        for task in stuck:
            log.error("daemon.task_did_not_stop", task=task.get_name())
        tasks.clear()


async def _expire(parts: Parts) -> None:
    """Expire due payments, holding those of a chain whose every node is stale."""
    config, heads = parts.config, parts.head

    def held(payment: Payment) -> bool:
        chain = config.chain_of(payment.asset) if payment.method == CRYPTO else None
        own = heads.chains.get(chain.key) if chain is not None else None
        return own is not None and own.stale

    await expire_due(parts.processor, held)


async def _warm(parts: Parts) -> None:
    done = await warm_status_cache(
        parts.status_cache, parts.payments, parts.config, parts.core, parts.head
    )
    log.info("status_cache.warmed", payments=done)


async def run_forever(config: Config) -> None:
    """``xbtcpay run``: start, notify systemd, wait for SIGTERM/SIGINT, stop gracefully."""
    from xbtcpay.app.systemd import Notifier, watchdog_loop

    notifier = Notifier.from_env()
    raise_open_files_limit()
    asyncio.get_running_loop().set_exception_handler(accept_error_handler(RateLimitedLog()))
    daemon = Daemon(config)
    await daemon.start()
    notifier.ready()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    dog = asyncio.create_task(watchdog_loop(notifier))
    try:
        await stop.wait()
    finally:
        notifier.stopping()
        dog.cancel()
        await asyncio.gather(dog, return_exceptions=True)
        await daemon.stop()

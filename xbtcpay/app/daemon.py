"""The daemon: two aiohttp applications (private, public) over one Runtime.

Start order: database + migrations, plugins (they register methods, routes, jobs), both
ports bound, background tasks (postbacks, expiry, watcher, plugin jobs), then READY.
Stop order is the reverse; in-flight requests finish, the database flushes last.
"""

from __future__ import annotations

import asyncio
import functools
import signal
import time
from collections.abc import Callable
from typing import Any, Self

import structlog
from aiohttp import web

from xbtcpay.app.config import Config
from xbtcpay.app.plugins import Context, check_version, discover
from xbtcpay.app.runtime import Runtime, build_runtime, warm_status_cache
from xbtcpay.cluster.expiry import expire_due
from xbtcpay.cluster.leadership import LeaderJob
from xbtcpay.commerce.wiring import attach_commerce, attach_settlement
from xbtcpay.core.errors import PluginError
from xbtcpay.core.tasks import every, supervise
from xbtcpay.plugin_api import Plugin
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
from xbtcpay.web.middlewares import context_middleware, whitelist_middleware
from xbtcpay.web.policy import SessionPolicy, ShopPolicy
from xbtcpay.web.purchase_endpoint import setup_purchase_routes
from xbtcpay.web.receipt_page import ReceiptPage, setup_receipt_page
from xbtcpay.web.rpc import setup_rpc
from xbtcpay.web.status_feed import StatusFeed

log = structlog.get_logger("xbtcpay.app")


def _base_app(runtime: Runtime, port_name: str, middlewares: list[Any]) -> web.Application:
    app = web.Application(middlewares=middlewares, client_max_size=runtime.config.rpc.max_body)
    app[keys.CONFIG] = runtime.config
    app[keys.RUNTIME] = runtime
    app[keys.REGISTRY] = runtime.registry
    app[keys.METRICS] = runtime.metrics
    app[keys.PROCESSOR] = runtime.processor
    app[keys.CORE] = runtime.core
    app[keys.PORT_NAME] = port_name
    return app


def private_app(runtime: Runtime) -> web.Application:
    app = _base_app(
        runtime,
        "private",
        [
            whitelist_middleware(runtime.config.rpc),
            browser_guard_middleware(runtime.config.rpc),
            context_middleware(runtime.metrics, "private"),
        ],
    )
    setup_rpc(app, _dispatcher(runtime), ShopPolicy(), max_body=runtime.config.rpc.max_body)
    app.router.add_get("/metrics", metrics_handler)
    app.router.add_get("/healthz", public.healthz)
    if runtime.commerce is not None:
        setup_purchase_routes(app, runtime.registry, ShopPolicy())
    return app


def _dispatcher(runtime: Runtime) -> Dispatcher:
    allow_private = runtime.config.postback.allow_private
    return Dispatcher(runtime.registry, allow_private_postbacks=allow_private)


def _customer_routes(app: web.Application, runtime: Runtime) -> None:
    """The public port's commerce: purchase, receipt pages, the session-guarded transports."""
    commerce = runtime.commerce
    if commerce is None:
        return
    policy = SessionPolicy(commerce.verifier, commerce.customer_methods)
    setup_purchase_routes(app, runtime.registry, policy)
    methods = commerce.methods
    page = ReceiptPage(methods.receipts, methods.currency, runtime.config.commerce.company)
    setup_receipt_page(app, page)
    setup_rpc(app, _dispatcher(runtime), policy, max_body=runtime.config.rpc.max_body)


def public_app(runtime: Runtime) -> web.Application:
    app = _base_app(
        runtime,
        "public",
        [
            public.cors_middleware(runtime.config.public.cors_origins),
            context_middleware(runtime.metrics, "public"),
            input_guard_middleware(),
        ],
    )
    app.router.add_get("/healthz", public.healthz_public)
    app.router.add_get("/{id}/status.json", public.status_json)
    setup_checkout(app, runtime)
    for method, path, handler in runtime.registrations.routes:
        app.router.add_route(method, path, handler)
    _customer_routes(app, runtime)
    return app


async def metrics_handler(request: web.Request) -> web.Response:
    runtime = request.app[keys.RUNTIME]
    runtime.metrics.set_counts(
        await runtime.payments.count_by_status(), await runtime.postbacks.stats()
    )
    runtime.metrics.set_cluster(
        runtime.leadership.replica_id, runtime.leadership.is_leader, runtime.leadership.leader_term
    )
    return web.Response(body=runtime.metrics.render(), content_type="text/plain", charset="utf-8")


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
        self.runtime: Runtime | None = None
        self._runners: list[web.AppRunner] = []
        self._feed: StatusFeed | None = None
        self.rpc_port = 0
        self.public_port = 0
        self._notes = RateLimitedLog()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self) -> None:
        self.runtime = rt = await build_runtime(
            self.config, clock=self._clock, synchronous=self._synchronous
        )
        try:
            settlement = attach_settlement(rt)
            await self._start_plugins(rt)
            rt.commerce = attach_commerce(rt, settlement)
            if rt.media is not None:
                rt.media.expose(rt.commerce.customer_methods)
            await rt.leadership.step()  # a lone daemon leads from its first request on
            if rt.db.shared:  # one SQLite file has one daemon: nothing to follow
                self._feed = StatusFeed(rt)
                await self._feed.prime()  # before the first body is cached
            self.rpc_port = await self._serve(
                private_app(rt), self.config.rpc.listen, self.config.rpc
            )
            self.public_port = await self._serve(
                public_app(rt),
                self.config.public.listen,
                self.config.public,
                front=lambda r: status_fast.install(r, rt),
            )
            self._start_tasks(rt)
        except BaseException:
            await self.stop()
            raise
        log.info(
            "daemon.ready",
            rpc=f"{self.config.rpc.listen.host}:{self.rpc_port}",
            public=f"{self.config.public.listen.host}:{self.public_port}",
            plugins=sorted(rt.plugins),
            watcher=rt.watcher_enabled,
        )

    async def _start_plugins(self, rt: Runtime) -> None:
        plugins = self._plugins if self._plugins is not None else discover(self.config.plugins)
        for name, plugin in plugins.items():
            check_version(name, plugin)
            ctx = Context(
                name,
                self.config.plugins.get(name, {}),
                base_dir=self.config.base_dir,
                base_url=self.config.public.base_url,
                catalog=rt.catalog,
                processor=rt.processor,
                store=rt.payments,
                registry=rt.registry,
                registrations=rt.registrations,
            )
            try:
                await plugin.setup(ctx)
            except PluginError:
                raise
            except Exception as exc:
                raise PluginError(f"plugin {name!r} failed to start: {exc}") from exc
            rt.plugins[name] = plugin
            log.info("plugin.started", plugin=name)

    async def _serve(
        self,
        app: web.Application,
        listen: Any,
        limits: Any,
        front: Callable[[web.AppRunner], Any] | None = None,
    ) -> int:
        runner = web.AppRunner(
            app, access_log=None, shutdown_timeout=10, keepalive_timeout=limits.idle_timeout
        )
        await runner.setup()
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

    def _start_tasks(self, rt: Runtime) -> None:
        def spawn(name: str, run: Callable[[], Any]) -> None:
            rt.tasks.append(asyncio.create_task(supervise(name, run), name=name))

        spawn("postbacks", rt.sender.run)
        if self.config.public.status_cache_warm:
            rt.tasks.append(asyncio.create_task(_warm(rt), name="status-cache-warmup"))
        if self._feed is not None:
            spawn("status-feed", self._feed.run)
        # the leader's jobs: run by exactly one replica at a time (xbtcpay/cluster.py)
        jobs: list[LeaderJob] = [
            ("expiry", lambda: every(self._expiry_interval, lambda: _expire(rt)))
        ]
        for name, job, interval in rt.registrations.jobs:
            jobs.append((name, functools.partial(every, interval, job)))
        if self._watcher and self.config.chain.rpc_urls:
            from xbtcpay.chain.watcher import Watcher

            watcher = Watcher(self.config, rt)
            rt.watcher_enabled = True
            jobs.append(("watcher", watcher.run))
        spawn("leadership", functools.partial(rt.leadership.run, jobs))

    async def stop(self) -> None:
        rt = self.runtime
        for runner in reversed(self._runners):
            await runner.cleanup()
        self._runners.clear()
        if rt is None:
            return
        for task in rt.tasks:
            task.cancel()
        _, stuck = await asyncio.wait(rt.tasks, timeout=10) if rt.tasks else (set(), set())
        for task in stuck:
            log.error("daemon.task_did_not_stop", task=task.get_name())
        rt.tasks.clear()
        await rt.leadership.release()
        for plugin in rt.plugins.values():
            try:
                await plugin.close()
            except Exception:
                log.exception("plugin.close_failed")
        await rt.session.close()
        await rt.sender.session.close()
        await rt.db.close()
        self.runtime = None
        log.info("daemon.stopped")


async def _warm(rt: Runtime) -> None:
    log.info("status_cache.warmed", payments=await warm_status_cache(rt))


async def _expire(rt: Runtime) -> None:
    await expire_due(rt.processor)


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

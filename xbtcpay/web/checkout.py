"""The hosted checkout page on the public port, its live feed and the embeddable widget.

Routes
    GET /pay/{id}            the page (``?lang=``, ``?embed=1&origin=``); a Stripe Checkout
                             payment redirects to its session instead
    GET /pay/{id}/view       the page's ``#view`` part, fetched by the page on a change
    GET /pay/{id}/events     Server-Sent Events: the status.json document on every change
    GET /pay-assets/{name}   stylesheet and script (content-hashed URLs)
    GET /widget.js           the embed script
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib import resources
from string import Template

import structlog
from aiohttp import web

from xbtcpay.core.chain_head import ChainHead
from xbtcpay.core.feed import PaymentFeed
from xbtcpay.core.methods import CoreMethods
from xbtcpay.core.models import CRYPTO, Payment
from xbtcpay.core.state import State
from xbtcpay.plugin_api import CheckoutLink, Plugin
from xbtcpay.storage.payments import PaymentStore
from xbtcpay.web import checkout_html as html
from xbtcpay.web.assets import Asset, asset_url, load_asset, serve_asset
from xbtcpay.web.checkout_view import CheckoutView, view_of
from xbtcpay.web.live import LiveHub, pump
from xbtcpay.web.messages import Catalog, choose_language, load_catalogs
from xbtcpay.web.settings import WebSettings
from xbtcpay.web.status_cache import head_of, render_status, status_document

log = structlog.get_logger("xbtcpay.checkout")
_ID = re.compile(r"^[A-Za-z0-9_-]{8,64}\Z")
_ORIGIN = re.compile(r"^https?://([A-Za-z0-9.\-]+|\[[0-9a-fA-F:.]+\])(:[0-9]{1,5})?\Z")
ASSET_PREFIX = "/pay-assets/"
HEARTBEAT = 15.0
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors {ancestors}"
)


@dataclass
class Checkout:
    config: WebSettings
    core: CoreMethods
    payments: PaymentStore
    head: ChainHead
    now: Callable[[], int]
    plugins: Mapping[str, Plugin]  # a provider's payment may have its own checkout page
    hub: LiveHub
    catalogs: dict[str, Catalog]
    template: Template
    assets: dict[str, Asset]

    # -- pages -----------------------------------------------------------------------------

    async def page(self, request: web.Request) -> web.StreamResponse:
        ctx = self._context(request)
        payment = await self._load(request)
        if payment is None:
            return self._not_found(ctx)
        redirect = await self._provider_page(payment)
        if redirect is not None:
            raise web.HTTPSeeOther(redirect, headers={"Cache-Control": "no-store"})
        view, key = self._view(payment, request.query.get("option"))
        return self._html(html.render_page(self.template, view, key, ctx), ctx)

    async def fragment(self, request: web.Request) -> web.Response:
        ctx = self._context(request)
        payment = await self._load(request)
        if payment is None:
            return self._not_found(ctx)
        view, key = self._view(payment, request.query.get("option"))
        return self._html(html.render_view(view, key, ctx), ctx)

    async def events(self, request: web.Request) -> web.StreamResponse:
        payment = await self._load(request)
        if payment is None:
            return web.json_response(
                {"error": "not found"}, status=404, headers={"Cache-Control": "no-store"}
            )
        stream = self.hub.open(payment)
        if stream is None:
            return web.json_response(
                {"error": "too many live pages; poll status.json"},
                status=503,
                headers={"Retry-After": "30"},
            )
        response = web.StreamResponse(
            headers={
                "Content-Type": "text/event-stream",
                "Cache-Control": "no-store",
                "X-Accel-Buffering": "no",
            }
        )
        try:
            fresh = await self.payments.get(payment.id)
            if fresh is not None:
                self.hub.catch_up(fresh)
            await response.prepare(request)
            await pump(response, stream, HEARTBEAT)
        except (ConnectionResetError, ConnectionError):
            pass  # the page went away
        finally:
            self.hub.close(payment.id, stream)
        return response

    async def asset(self, request: web.Request) -> web.Response:
        asset = self.assets.get(request.match_info["name"])
        if asset is None or asset.name == "widget.js":
            raise web.HTTPNotFound()
        return serve_asset(request, asset)

    async def widget(self, request: web.Request) -> web.Response:
        response = serve_asset(request, self.assets["widget.js"])
        response.headers["Cross-Origin-Resource-Policy"] = "cross-origin"
        return response

    # -- parts -----------------------------------------------------------------------------

    async def _load(self, request: web.Request) -> Payment | None:
        payment_id = request.match_info["id"]
        if not _ID.match(payment_id):
            return None
        return await self.payments.get(payment_id)

    def _view(self, payment: Payment, option: str | None = None) -> tuple[CheckoutView, str]:
        """The view of ``payment`` and its key; ``option``: the asset of an invoice's option
        the customer picked (any other text shows the first option)."""
        head = head_of(self.config, self.head, payment)
        doc = status_document(self.config, self.core, payment, head)
        key = "|".join(
            str(v)
            for v in (
                doc["status"],
                doc["confirmations"],
                doc["amount_received"],
                int(doc["late"]),
                int(doc["overpaid"]),
                int(doc["reorged"]),
            )
        )
        chain = self.config.chain_of(payment.asset) if payment.method == CRYPTO else None
        own = self.head.chains.get(chain.key) if chain is not None else None
        delayed = own is not None and own.stale
        view = view_of(
            self.config, self.core, payment, head, self.now(), delayed=delayed, option=option
        )
        return view, f"{key}|delayed" if delayed else key

    async def _provider_page(self, payment: Payment) -> str | None:
        plugin = self.plugins.get(payment.method)
        if payment.status != State.NEW or not isinstance(plugin, CheckoutLink):
            return None
        try:
            return await plugin.checkout_url(payment)
        except Exception:
            log.warning(
                "checkout.provider_page_failed",
                payment_id=payment.id,
                method=payment.method,
                exc_info=True,
            )
            return None

    def _context(self, request: web.Request) -> html.PageContext:
        lang = choose_language(
            request.query.get("lang"),
            request.headers.get("Accept-Language"),
            frozenset(self.catalogs),
        )
        embed = request.query.get("embed") == "1"
        return html.PageContext(
            catalog=self.catalogs[lang],
            languages=tuple(
                (code, self.catalogs[code].messages["language_name"])
                for code in sorted(self.catalogs)
            ),
            css_url=asset_url(ASSET_PREFIX, self.assets["checkout.css"]),
            js_url=asset_url(ASSET_PREFIX, self.assets["checkout.js"]),
            icon_url=asset_url(ASSET_PREFIX, self.assets["icon.svg"]),
            embed=embed,
            parent_origin=self._parent_origin(request) if embed else "",
        )

    def _parent_origin(self, request: web.Request) -> str:
        origin = request.query.get("origin", "")
        allowed = self.config.public.cors_origins
        if not _ORIGIN.match(origin) or len(origin) > 255:
            return ""
        return origin if "*" in allowed or origin in allowed else ""

    def _html(self, text: str, ctx: html.PageContext, status: int = 200) -> web.Response:
        return web.Response(
            text=text,
            status=status,
            content_type="text/html",
            charset="utf-8",
            headers=self._headers(ctx),
        )

    def _headers(self, ctx: html.PageContext) -> dict[str, str]:
        allowed = self.config.public.cors_origins
        ancestors = "'none'"
        if ctx.embed:
            ancestors = "*" if "*" in allowed else " ".join(allowed) or "'none'"
        headers = {
            "Content-Security-Policy": CSP.format(ancestors=ancestors),
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
            "Content-Language": ctx.catalog.language,
            "Vary": "Accept-Language",
        }
        if not ctx.embed:
            headers["X-Frame-Options"] = "DENY"
        return headers

    def _not_found(self, ctx: html.PageContext) -> web.Response:
        text = (
            f'<!doctype html><html lang="{html.e(ctx.catalog.language)}"><head>'
            '<meta charset="utf-8"><meta name="viewport" content="width=device-width">'
            f"<title>{html.e(ctx.catalog.text('not_found'))}</title>"
            f'<link rel="stylesheet" href="{html.e(ctx.css_url)}">'
            f'<link rel="icon" href="{html.e(ctx.icon_url)}"></head><body><main>'
            f"<h1>{html.e(ctx.catalog.text('not_found'))}</h1></main></body></html>"
        )
        return self._html(text, ctx, status=404)


def setup_checkout(
    app: web.Application,
    config: WebSettings,
    core: CoreMethods,
    payments: PaymentStore,
    head: ChainHead,
    feed: PaymentFeed,
    plugins: Mapping[str, Plugin],
    now: Callable[[], int],
) -> Checkout:
    """Build the checkout page, subscribe its live feed, and add its routes to ``app``
    (the root keeps the page under ``keys.CHECKOUT``)."""
    hub = LiveHub(lambda p: render_status(config, core, p, head_of(config, head, p))[0])
    folder = resources.files("xbtcpay.web") / "checkout_files"
    checkout = Checkout(
        config,
        core,
        payments,
        head,
        now,
        plugins,
        hub,
        load_catalogs(),
        Template((folder / "page.html").read_text("utf-8")),
        {
            name: load_asset(name)
            for name in ("checkout.css", "checkout.js", "icon.svg", "widget.js")
        },
    )
    unsubscribe = [feed.on_payment(hub.on_payment), feed.on_head(hub.on_head)]

    async def on_shutdown(_: web.Application) -> None:
        for undo in unsubscribe:
            undo()
        hub.shutdown()

    app.on_shutdown.append(on_shutdown)
    app.router.add_get("/pay/{id}", checkout.page)
    app.router.add_get("/pay/{id}/view", checkout.fragment)
    app.router.add_get("/pay/{id}/events", checkout.events)
    app.router.add_get(ASSET_PREFIX + "{name}", checkout.asset)
    app.router.add_get("/widget.js", checkout.widget)
    return checkout

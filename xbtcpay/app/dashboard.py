"""The dashboard's parts, built from the daemon's (``xbtcpay.web.admin``).

Mounted under ``/admin`` on the private port, or on a port of its own when
``admin.listen`` is set (behind the same whitelist and Host check as the private port,
unless ``rpc.auth: keys`` turned the whitelist off).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiohttp import web

from xbtcpay.app.config import Config
from xbtcpay.app.wiring import Parts
from xbtcpay.chain.settings import chain_key
from xbtcpay.storage.admin_audit import AuditLog
from xbtcpay.storage.admin_sessions import AdminSessionStore
from xbtcpay.storage.admin_users import AdminUserStore
from xbtcpay.storage.api_keys import ApiKeyStore
from xbtcpay.storage.chain_store import ChainStore
from xbtcpay.web.admin.accounts import Accounts
from xbtcpay.web.admin.guard import dashboard_middleware
from xbtcpay.web.admin.live import DashboardLive
from xbtcpay.web.admin.masking import masked
from xbtcpay.web.admin.networks import Network, Networks
from xbtcpay.web.admin.views import DashboardParts, setup_dashboard
from xbtcpay.web.browser_guard import browser_guard_middleware
from xbtcpay.web.middlewares import whitelist_middleware


def dashboard_parts(parts: Parts) -> DashboardParts:
    config = parts.config
    audit = AuditLog(parts.db)
    accounts = Accounts(
        AdminUserStore(parts.db),
        AdminSessionStore(parts.db),
        audit,
        config.admin,
        parts.processor.now,
    )

    def configuration() -> Mapping[str, Any]:
        shown: Mapping[str, Any] = masked(config)
        return shown

    live = DashboardLive()
    parts.feed.on_payment(live.on_payment)
    return DashboardParts(
        accounts=accounts,
        payments=parts.payments,
        postbacks=parts.postbacks,
        deposits=ChainStore(parts.db),
        vouchers=parts.media.vouchers,
        keys=ApiKeyStore(parts.db),
        audit=audit,
        registry=parts.registry,
        head=parts.head,
        leadership=parts.leadership,
        rpc=config.rpc,
        secure_cookie=config.admin.secure_cookie,
        session_lifetime=config.admin.session_lifetime,
        configuration=configuration,
        live=live,
        clock=parts.processor.now,
        networks=networks_of(config),
        currency=config.admin.currency,
    )


def networks_of(config: Config) -> Networks:
    """The configured chains by key and the chain of every asset (``chain_key``)."""
    return Networks(
        chains={
            key: Network(key, chain.name, chain.chain_id, chain.explorer or "")
            for key, chain in config.chains.items()
        },
        asset_chain={name: chain_key(a, config.chains) for name, a in config.assets.items()},
    )


def mount_dashboard(app: web.Application, dashboard: DashboardParts) -> None:
    """Routes on ``app``; its middleware must be in ``app``'s list (``dashboard_guard``)."""
    setup_dashboard(app, dashboard)


def dashboard_guard(dashboard: DashboardParts) -> Any:
    return dashboard_middleware(dashboard.accounts, dashboard.rpc)


def dashboard_app(parts: Parts, dashboard: DashboardParts) -> web.Application:
    """The dashboard alone, for ``admin.listen``."""
    rpc = parts.config.rpc
    middlewares: list[Any] = [whitelist_middleware(rpc)] if rpc.auth != "keys" else []
    middlewares += [browser_guard_middleware(rpc), dashboard_guard(dashboard)]
    app = web.Application(middlewares=middlewares, client_max_size=64 * 1024)
    setup_dashboard(app, dashboard)
    return app

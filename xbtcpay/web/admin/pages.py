"""What every dashboard page shares: the parts it reads and changes, rendering with the
signed-in user's language and CSRF token, the role check, and the audit log.

The pages themselves are grouped by what they are about: ``overview`` (the overview),
``administration`` (users, API keys, the audit log) and ``views`` (payments, customers,
postbacks, vouchers, funds, the configuration, login), each a ``Pages`` built from the
same parts.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Final
from urllib.parse import quote

import jinja2
from aiohttp import web

from xbtcpay.cluster.leadership import Leadership
from xbtcpay.commerce.media_access.voucher_store import VoucherStore
from xbtcpay.core.chain_head import ChainHead
from xbtcpay.core.registry import MethodRegistry
from xbtcpay.plugin_api import CallContext
from xbtcpay.storage.admin_audit import AuditLog
from xbtcpay.storage.api_keys import ApiKeyStore
from xbtcpay.storage.chain_store import ChainStore
from xbtcpay.storage.payments import PaymentStore
from xbtcpay.storage.postbacks import PostbackStore
from xbtcpay.web.admin.accounts import Accounts, SignedIn, may
from xbtcpay.web.admin.guard import PREFIX, SIGNED_IN
from xbtcpay.web.admin.i18n import LANGUAGE_COOKIE, Translations
from xbtcpay.web.admin.live import DashboardLive
from xbtcpay.web.admin.networks import Networks
from xbtcpay.web.keys import CLIENT_IP
from xbtcpay.web.settings import RpcConfig

PAGE_SIZE: Final = 50


@dataclass
class DashboardParts:
    """What the pages read and change; the root builds it from the daemon's parts."""

    accounts: Accounts
    payments: PaymentStore
    postbacks: PostbackStore
    deposits: ChainStore
    vouchers: VoucherStore
    keys: ApiKeyStore
    audit: AuditLog
    registry: MethodRegistry
    head: ChainHead
    leadership: Leadership
    rpc: RpcConfig
    secure_cookie: str
    session_lifetime: int
    configuration: Callable[[], Mapping[str, Any]]  # the parsed config, secrets masked
    live: DashboardLive  # subscribed to the daemon's change feed by the root
    clock: Callable[[], float] = time.time
    networks: Networks = field(default_factory=Networks)
    currency: str = "USD"  # the volumes' fiat values, through ``rates.get`` when configured


def when(at: float | int | None) -> str:
    if at is None:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(at))


def amount(value: Decimal) -> str:
    return format(value.normalize(), "f") if value else "0"


def int_or(value: str | None, default: int) -> int:
    try:
        return int(value or "")
    except ValueError:
        return default


def note_of(message: str) -> str:
    return quote(message[:200])


class Renderer:
    """The templates (one Jinja2 environment for every page) and the three catalogs."""

    def __init__(self) -> None:
        self.env = jinja2.Environment(
            loader=jinja2.PackageLoader("xbtcpay.web.admin", "templates"),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.filters["when"] = when
        self.env.filters["amount"] = amount
        self.texts = Translations()


class Pages:
    """A group of pages over ``parts``, rendered by the shared ``renderer``."""

    def __init__(self, parts: DashboardParts, renderer: Renderer) -> None:
        self.p = parts
        self.env = renderer.env
        self.texts = renderer.texts

    # -- rendering -------------------------------------------------------------------

    def render(
        self, request: web.Request, template: str, status: int = 200, **values: Any
    ) -> web.Response:
        lang = self.texts.language(request)
        who = request.get(SIGNED_IN)
        catalog = self.texts.catalog(lang)
        values.setdefault("note", "")
        values.setdefault("live", "")
        body = self.env.get_template(template).render(
            t=catalog.text,
            note_text=lambda note: catalog.messages.get(f"note_{note}", note),
            lang=lang,
            languages=self.texts.languages,
            who=who,
            csrf=who.session.csrf_token if who else "",
            may=lambda needed: who is not None and may(who.user.role, needed),
            path=request.path,
            prefix=PREFIX,
            **values,
        )
        response = web.Response(text=body, status=status, content_type="text/html")
        if request.query.get("lang") in self.texts.languages:
            response.set_cookie(
                LANGUAGE_COOKIE, lang, max_age=365 * 86400, httponly=True, samesite="Strict"
            )
        return response

    def _who(self, request: web.Request, needed: str = "viewer") -> SignedIn:
        who = request[SIGNED_IN]
        if not may(who.user.role, needed):
            raise web.HTTPForbidden(
                text=f"This needs the {needed} role; you are {who.user.role}.",
                content_type="text/plain",
            )
        return who

    async def _audit(self, request: web.Request, action: str, target: str, **details: Any) -> None:
        who = request[SIGNED_IN]
        await self.p.audit.append(
            at=int(self.p.clock()),
            actor=who.user.name,
            action=action,
            target=target,
            address=request[CLIENT_IP],
            details=details,
        )

    def _ctx(self, request: web.Request) -> CallContext:
        return CallContext("dashboard", request[CLIENT_IP], secrets.token_hex(8))

    def _back(self, to: str, note: str = "") -> web.HTTPSeeOther:
        return web.HTTPSeeOther(to + (f"?note={note}" if note else ""))

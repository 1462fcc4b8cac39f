"""The dashboard's pages (Jinja2 templates in ``templates/``) and the changes they make.

Reads go to the stores; changes go through the same code as the API (``cancel_payment``
and ``voucher.create`` through the method registry, redelivery through the postback
outbox) and each one is written to the audit log with who, what, when and from where.
A viewer reads; an operator also redelivers, cancels and manages vouchers; an admin also
manages API keys.
"""

from __future__ import annotations

import csv
import io
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from importlib import resources
from typing import Any, Final
from urllib.parse import quote

import jinja2
from aiohttp import web

from xbtcpay.cluster.leadership import Leadership
from xbtcpay.commerce.media_access.voucher_store import VoucherStore, describe
from xbtcpay.core.chain_head import ChainHead
from xbtcpay.core.errors import RpcError
from xbtcpay.core.models import Payment
from xbtcpay.core.registry import MethodRegistry
from xbtcpay.core.state import OPEN_STATES, State
from xbtcpay.plugin_api import CallContext
from xbtcpay.storage.admin_audit import AuditLog
from xbtcpay.storage.api_keys import ApiKey, ApiKeyStore
from xbtcpay.storage.chain_store import ChainStore
from xbtcpay.storage.payments import PaymentStore
from xbtcpay.storage.postbacks import PostbackStore
from xbtcpay.web.admin.accounts import Accounts, LoginRefused, SignedIn, may
from xbtcpay.web.admin.chart import daily_bars
from xbtcpay.web.admin.guard import COOKIE, CSP, PREFIX, SIGNED_IN, over_tls
from xbtcpay.web.admin.i18n import LANGUAGE_COOKIE, Translations
from xbtcpay.web.admin.live import DashboardLive
from xbtcpay.web.admin.networks import Networks
from xbtcpay.web.key_auth import mint_key
from xbtcpay.web.keys import CLIENT_IP
from xbtcpay.web.live import pump
from xbtcpay.web.scopes import SCOPES, parse_scopes
from xbtcpay.web.settings import RpcConfig

PAGE_SIZE: Final = 50
HEARTBEAT: Final = 15.0  # seconds between keep-alives, each re-checking the session
CSV_LIMIT: Final = 10_000
_CSV_COLUMNS: Final = (
    "id",
    "status",
    "method",
    "asset",
    "amount",
    "amount_received",
    "order_id",
    "customer",
    "address",
    "tx_hash",
    "created_at",
    "paid_at",
)


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


def setup_dashboard(app: web.Application, parts: DashboardParts) -> None:
    """Route ``/admin`` and its pages on ``app`` (the private port or ``admin.listen``)."""
    d = Dashboard(parts)
    r = app.router
    r.add_get(PREFIX, d.to_overview)
    r.add_get(f"{PREFIX}/login", d.login_page)
    r.add_post(f"{PREFIX}/login", d.login)
    r.add_post(f"{PREFIX}/logout", d.logout)
    r.add_get(f"{PREFIX}/", d.overview)
    r.add_get(f"{PREFIX}/payments", d.payments)
    r.add_get(f"{PREFIX}/payments.csv", d.payments_csv)
    r.add_get(f"{PREFIX}/payments/{{id}}", d.payment)
    r.add_post(f"{PREFIX}/payments/{{id}}/cancel", d.cancel)
    r.add_get(f"{PREFIX}/customers", d.customer)
    r.add_get(f"{PREFIX}/postbacks", d.postback_list)
    r.add_post(f"{PREFIX}/postbacks/{{id}}/redeliver", d.redeliver)
    r.add_get(f"{PREFIX}/vouchers", d.voucher_list)
    r.add_post(f"{PREFIX}/vouchers", d.voucher_create)
    r.add_post(f"{PREFIX}/vouchers/{{id}}/disable", d.voucher_disable)
    r.add_get(f"{PREFIX}/funds", d.funds)
    r.add_get(f"{PREFIX}/config", d.configuration)
    r.add_get(f"{PREFIX}/audit", d.audit_log)
    r.add_get(f"{PREFIX}/keys", d.key_list)
    r.add_post(f"{PREFIX}/keys", d.key_create)
    r.add_post(f"{PREFIX}/keys/{{id}}/revoke", d.key_revoke)
    r.add_get(f"{PREFIX}/users", d.user_list)
    r.add_post(f"{PREFIX}/users/{{name}}/disable", d.user_disable)
    r.add_post(f"{PREFIX}/users/{{name}}/enable", d.user_enable)
    r.add_get(f"{PREFIX}/events", d.events)
    r.add_static(f"{PREFIX}/static/", d.static_dir, append_version=False)

    async def on_shutdown(_: web.Application) -> None:
        parts.live.shutdown()  # open pages reconnect to a running replica

    app.on_shutdown.append(on_shutdown)


def _when(at: float | int | None) -> str:
    if at is None:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(at))


def _amount(value: Decimal) -> str:
    return format(value.normalize(), "f") if value else "0"


class Dashboard:
    def __init__(self, parts: DashboardParts) -> None:
        self.p = parts
        self.env = jinja2.Environment(
            loader=jinja2.PackageLoader("xbtcpay.web.admin", "templates"),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.filters["when"] = _when
        self.env.filters["amount"] = _amount
        self.texts = Translations()
        self.static_dir = str(resources.files("xbtcpay.web.admin") / "static")

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

    # -- login -------------------------------------------------------------------

    async def to_overview(self, request: web.Request) -> web.Response:
        raise web.HTTPSeeOther(f"{PREFIX}/")

    async def login_page(self, request: web.Request) -> web.Response:
        return self.render(request, "login.html", error="", next=_next(request.query.get("next")))

    async def login(self, request: web.Request) -> web.Response:
        form = await request.post()
        name, password = str(form.get("name", ""))[:128], str(form.get("password", ""))[:1024]
        target = _next(str(form.get("next", "")))
        try:
            signed = await self.p.accounts.login(name, password, request[CLIENT_IP])
        except LoginRefused as refused:
            key = "login_locked" if refused.locked else "login_wrong"
            return self.render(
                request, "login.html", 429 if refused.locked else 401, error=key, next=target
            )
        response = web.HTTPSeeOther(target)
        secure = self.p.secure_cookie == "always" or (
            self.p.secure_cookie == "auto" and over_tls(request, self.p.rpc)
        )
        response.set_cookie(
            COOKIE,
            signed.token,
            path=PREFIX,
            httponly=True,
            samesite="Strict",
            secure=secure,
            max_age=self.p.session_lifetime,
        )
        raise response

    async def logout(self, request: web.Request) -> web.Response:
        await self.p.accounts.logout(request[SIGNED_IN], request[CLIENT_IP])
        response = web.HTTPSeeOther(f"{PREFIX}/login")
        response.del_cookie(COOKIE, path=PREFIX)
        raise response

    # -- overview ----------------------------------------------------------------

    async def overview(self, request: web.Request) -> web.Response:
        self._who(request)
        now = self.p.clock()
        today = datetime.fromtimestamp(now, UTC)
        midnight = int(today.replace(hour=0, minute=0, second=0, microsecond=0).timestamp())
        paid = await self.p.payments.paid_since(midnight - 29 * 86400)
        periods = (
            ("today", midnight),
            ("7d", midnight - 6 * 86400),
            ("30d", midnight - 29 * 86400),
        )
        volumes: dict[str, dict[str, list[Any]]] = {}
        for asset, amount, at in paid:
            row = volumes.setdefault(asset, {name: [0, Decimal(0)] for name, _ in periods})
            for name, since in periods:
                if at >= since:
                    row[name][0] += 1
                    row[name][1] += amount
        fiat = await self._fiat_volumes(request, volumes)
        counts = await self.p.payments.count_by_status()
        open_states = sorted(s.value for s in OPEN_STATES)
        open_payments = []
        for state in open_states:
            open_payments += await self.p.payments.search(status=state, limit=10)
        open_payments.sort(key=lambda p: p.created_at, reverse=True)
        failed = await self.p.postbacks.search(status="failed", limit=10)
        return self.render(
            request,
            "overview.html",
            volumes=dict(sorted(volumes.items())),
            periods=[name for name, _ in periods],
            fiat=fiat,
            currency=self.p.currency,
            chart=daily_bars((at for _, _, at in paid), today),
            open_count=sum(counts.get(s, 0) for s in open_states),
            open_payments=open_payments[:10],
            failed=failed,
            failed_count=(await self.p.postbacks.stats()).get("failed", 0),
            health=self._health(now),
            funds_available="funds.summary" in self.p.registry.names(),
            live=f"{PREFIX}/events",
        )

    async def _fiat_volumes(
        self, request: web.Request, volumes: Mapping[str, Mapping[str, list[Any]]]
    ) -> dict[str, Any] | None:
        """Each asset's volumes in the dashboard's currency at the current rate, and their
        totals; None when no rate sources are configured. An asset without a reliable rate
        is left out of the totals and shown as such."""
        if "rates.get" not in self.p.registry.names():
            return None
        currency = self.p.currency
        cents = Decimal("0.01")
        values: dict[str, dict[str, Decimal] | None] = {}
        totals: dict[str, Decimal] = {}
        for asset, row in volumes.items():
            rate = await self._rate(request, asset, currency)
            if rate is None:
                values[asset] = None
                continue
            fiat = {name: (cell[1] * rate).quantize(cents) for name, cell in row.items()}
            values[asset] = fiat
            for name, value in fiat.items():
                totals[name] = totals.get(name, Decimal(0)) + value
        return {"values": values, "totals": totals}

    async def _rate(self, request: web.Request, asset: str, currency: str) -> Decimal | None:
        if asset.upper() == currency:
            return Decimal(1)
        try:
            answer = await self.p.registry.call(
                "rates.get", {"asset": asset, "currency": currency}, self._ctx(request)
            )
        except RpcError:
            return None  # no reliable rate (refused, stale, spread) or not a priced asset
        return Decimal(str(answer["rate"]))

    def _health(self, now: float) -> dict[str, Any]:
        """The verdict over every configured chain, and each chain's own line."""
        lead = self.p.leadership
        chains = []
        for key, head in sorted(self.p.head.chains.items()):
            age = None if head.at is None else round(now - head.at, 1)
            fresh = age is not None and age <= 60 and not head.stale
            chains.append(
                {
                    "key": key,
                    "head": head.number,
                    "age": age,
                    "stale": head.stale,
                    "ok": head.watched is False or fresh or not lead.is_leader,
                }
            )
        main = chains[0] if len(chains) == 1 else None
        return {
            "head": main["head"] if main else None,
            "age": main["age"] if main else None,
            "chains": chains if len(chains) > 1 else [],
            "watcher": self.p.head.watched,
            "ok": all(c["ok"] for c in chains),
            "replica": lead.replica_id,
            "leader": lead.leader_id,
        }

    # -- payments ----------------------------------------------------------------

    async def _search(self, request: web.Request, limit: int, offset: int) -> list[Payment]:
        q = request.query
        term = q.get("q", "").strip()[:200]
        filters = {k: q.get(k) or None for k in ("status", "asset", "method")}
        after, before = _day(q.get("from")), _day(q.get("to"), end=True)
        chain = q.get("chain") or None
        on_chain = None if chain is None else self.p.networks.assets_on(chain)
        if term:
            found = await self.p.payments.find(term, limit=CSV_LIMIT)
            found = [
                p
                for p in found
                if all(v is None or str(getattr(p, k)) == v for k, v in filters.items())
                and (on_chain is None or p.asset in on_chain)
                and (after is None or p.created_at >= after)
                and (before is None or p.created_at < before)
            ]
            return found[offset : offset + limit]
        return await self.p.payments.search(
            **filters,
            assets=on_chain,
            created_after=after,
            created_before=before,
            limit=limit,
            offset=offset,
        )

    async def payments(self, request: web.Request) -> web.Response:
        self._who(request)
        page = max(1, _int(request.query.get("page"), 1))
        rows = await self._search(request, PAGE_SIZE + 1, (page - 1) * PAGE_SIZE)
        query = {k: v for k, v in request.query.items() if k != "page" and v}
        return self.render(
            request,
            "payments.html",
            payments=rows[:PAGE_SIZE],
            page=page,
            more=len(rows) > PAGE_SIZE,
            query=query,
            statuses=[s.value for s in State],
            chains=list(self.p.networks.chains.values()),
        )

    async def payments_csv(self, request: web.Request) -> web.StreamResponse:
        self._who(request)
        rows = await self._search(request, CSV_LIMIT, 0)
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(_CSV_COLUMNS)
        for p in rows:
            writer.writerow([_cell(_csv_value(p, c)) for c in _CSV_COLUMNS])
        return web.Response(
            text=out.getvalue(),
            content_type="text/csv",
            headers={"Content-Disposition": 'attachment; filename="payments.csv"'},
        )

    async def payment(self, request: web.Request) -> web.Response:
        self._who(request)
        payment = await self.p.payments.get(request.match_info["id"])
        if payment is None:
            raise web.HTTPNotFound(text="No such payment.", content_type="text/plain")
        postbacks = await self.p.postbacks.search(payment_id=payment.id, limit=100)
        attempts = {pb.id: await self.p.postbacks.attempts(pb.id) for pb in postbacks}
        return self.render(
            request,
            "payment.html",
            payment=payment,
            network=self.p.networks.of_asset(payment.asset),
            networks=self.p.networks,
            events=await self.p.payments.events(payment.id),
            deposits=await self.p.deposits.deposits_on_every_chain(payment.id),
            strays=await self.p.deposits.strays_of(payment.id),
            postbacks=postbacks,
            attempts=attempts,
            cancellable=payment.status in OPEN_STATES,
            note=request.query.get("note", ""),
            live=f"{PREFIX}/events?payment={quote(payment.id)}",
        )

    async def cancel(self, request: web.Request) -> web.Response:
        self._who(request, "operator")
        pid = request.match_info["id"]
        try:
            await self.p.registry.call("cancel_payment", {"id": pid}, self._ctx(request))
        except RpcError as exc:
            raise self._back(f"{PREFIX}/payments/{pid}", _note(exc.message)) from None
        await self._audit(request, "payment.cancel", pid)
        raise self._back(f"{PREFIX}/payments/{pid}", "canceled")

    async def customer(self, request: web.Request) -> web.Response:
        """A customer's balances, ledger, receipts, entitlements and payments, read through
        the same methods the shop's backend calls."""
        self._who(request)
        customer = request.query.get("customer", "").strip()[:200]
        found: dict[str, Any] = {}
        errors: list[str] = []
        if customer:
            for name, method, params, field in (
                ("balances", "balance.get", {}, "balances"),
                ("ledger", "balance.history", {"limit": 50}, "entries"),
                ("receipts", "receipt.list", {"limit": 50}, "receipts"),
                ("entitlements", "payment.entitlements", {}, "entitlements"),
            ):
                if method not in self.p.registry.names():
                    continue
                try:
                    answer = await self.p.registry.call(
                        method, {"customer": customer, **params}, self._ctx(request)
                    )
                except RpcError as exc:
                    errors.append(f"{method}: {exc.message}")
                    continue
                rows = answer.get(field, []) if isinstance(answer, Mapping) else []
                found[name] = [r for r in rows if isinstance(r, Mapping)]
        payments = await self.p.payments.search(customer=customer, limit=50) if customer else []
        return self.render(
            request,
            "customers.html",
            customer=customer,
            found=found,
            errors=errors,
            payments=payments,
        )

    async def events(self, request: web.Request) -> web.StreamResponse:
        """SSE of payment changes: one payment's (``?payment=``) or every one's."""
        self._who(request)
        stream = self.p.live.open(request.query.get("payment") or None)
        if stream is None:
            raise web.HTTPServiceUnavailable(
                text="Too many live pages; reload to see changes.", headers={"Retry-After": "30"}
            )
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "X-Accel-Buffering": "no"}
        )
        _harden_stream(response)
        token = request.cookies.get(COOKIE)
        try:
            await response.prepare(request)

            async def signed_in() -> bool:  # the session ended: so does its stream
                return await self.p.accounts.signed_in(token) is not None

            await pump(response, stream, HEARTBEAT, signed_in)
        except (ConnectionResetError, ConnectionError):
            pass  # the page went away
        finally:
            self.p.live.close(stream)
        return response

    # -- postbacks ---------------------------------------------------------------

    async def postback_list(self, request: web.Request) -> web.Response:
        self._who(request)
        status = request.query.get("status", "failed")
        if status not in ("failed", "pending", "delivered"):
            status = "failed"
        rows = await self.p.postbacks.search(status=status, limit=200)
        return self.render(
            request,
            "postbacks.html",
            postbacks=rows,
            shown=status,
            note=request.query.get("note", ""),
        )

    async def redeliver(self, request: web.Request) -> web.Response:
        self._who(request, "operator")
        pb_id = _int(request.match_info["id"], 0)
        form = await request.post()
        back = str(form.get("back", "")) or f"{PREFIX}/postbacks"
        back = back if back.startswith(PREFIX + "/") and "//" not in back else f"{PREFIX}/postbacks"
        postback = await self.p.postbacks.get(pb_id)
        if postback is None or not await self.p.postbacks.redeliver(pb_id, self.p.clock()):
            raise web.HTTPNotFound(text="No such postback.", content_type="text/plain")
        await self._audit(request, "postback.redeliver", str(pb_id), payment=postback.payment_id)
        raise self._back(back, "queued")

    # -- vouchers ----------------------------------------------------------------

    async def voucher_list(
        self, request: web.Request, error: str = "", made: Any = None
    ) -> web.Response:
        self._who(request)
        vouchers = [describe(v) for v in await self.p.vouchers.list(200)]
        return self.render(
            request,
            "vouchers.html",
            400 if error else 200,
            vouchers=vouchers,
            error=error,
            made=made,
            note=request.query.get("note", ""),
        )

    async def voucher_create(self, request: web.Request) -> web.Response:
        self._who(request, "operator")
        form = await request.post()
        code = str(form.get("code", "")).strip()
        grant = str(form.get("grant", "")).strip()
        params: dict[str, Any] = {"code": code}
        if ":" in grant:
            currency, _, amount = grant.partition(":")
            params["grants"] = {"balance": {"currency": currency.strip(), "amount": amount.strip()}}
        else:
            params["grants"] = {"product": grant}
        max_uses = str(form.get("max_uses", "")).strip()
        if max_uses:
            params["max_uses"] = _int(max_uses, -1)
        try:
            made = await self.p.registry.call("voucher.create", params, self._ctx(request))
        except RpcError as exc:
            return await self.voucher_list(request, error=exc.message)
        await self._audit(request, "voucher.create", str(made.get("id")), grants=params["grants"])
        raise self._back(f"{PREFIX}/vouchers", "created")

    async def voucher_disable(self, request: web.Request) -> web.Response:
        self._who(request, "operator")
        voucher_id = _int(request.match_info["id"], 0)
        if not await self.p.vouchers.disable(voucher_id):
            raise web.HTTPNotFound(text="No such voucher.", content_type="text/plain")
        await self._audit(request, "voucher.disable", str(voucher_id))
        raise self._back(f"{PREFIX}/vouchers", "disabled")

    # -- funds, configuration, audit ----------------------------------------------

    async def funds(self, request: web.Request) -> web.Response:
        self._who(request)
        summary: Any = None
        error = ""
        if "funds.summary" in self.p.registry.names():
            try:
                summary = await self.p.registry.call("funds.summary", {}, self._ctx(request))
            except RpcError as exc:
                error = exc.message
        return self.render(request, "funds.html", summary=summary, error=error)

    async def configuration(self, request: web.Request) -> web.Response:
        self._who(request)
        return self.render(request, "config.html", config=self.p.configuration())

    async def audit_log(self, request: web.Request) -> web.Response:
        self._who(request)
        page = max(1, _int(request.query.get("page"), 1))
        rows = await self.p.audit.recent(PAGE_SIZE + 1, (page - 1) * PAGE_SIZE)
        return self.render(
            request, "audit.html", entries=rows[:PAGE_SIZE], page=page, more=len(rows) > PAGE_SIZE
        )

    # -- API keys (admin) --------------------------------------------------------

    async def key_list(
        self, request: web.Request, error: str = "", made: str = "", status: int = 200
    ) -> web.Response:
        self._who(request, "admin")
        now = self.p.clock()
        keys = [(k, _key_state(k, now)) for k in await self.p.keys.list()]
        return self.render(
            request,
            "keys.html",
            status,
            keys=keys,
            scopes=sorted(SCOPES),
            error=error,
            made=made,
            note=request.query.get("note", ""),
        )

    async def key_create(self, request: web.Request) -> web.Response:
        self._who(request, "admin")
        form = await request.post()
        try:
            scopes = parse_scopes(",".join(str(s) for s in form.getall("scope", [])))
        except ValueError as exc:
            return await self.key_list(request, error=str(exc), status=400)
        days = _int(str(form.get("days", "")), 0)
        now = int(self.p.clock())
        expires_at = now + days * 86400 if days > 0 else None
        name = str(form.get("name", ""))[:64]
        key_id, key, hashed = mint_key()
        await self.p.keys.create(ApiKey(key_id, name, hashed, scopes, now, expires_at, None))
        await self._audit(
            request, "key.create", key_id, scopes=sorted(scopes), expires_at=expires_at, name=name
        )
        return await self.key_list(request, made=key)

    # -- users (admin) -----------------------------------------------------------

    async def user_list(self, request: web.Request) -> web.Response:
        self._who(request, "admin")
        accounts = self.p.accounts
        sessions = await accounts.sessions.open_sessions(int(self.p.clock()))
        open_by_user: dict[str, int] = {}
        for session in sessions:
            open_by_user[session.user_name] = open_by_user.get(session.user_name, 0) + 1
        return self.render(
            request,
            "users.html",
            users=await accounts.users.list(),
            open_by_user=open_by_user,
            note=request.query.get("note", ""),
        )

    async def user_disable(self, request: web.Request) -> web.Response:
        who = self._who(request, "admin")
        name = request.match_info["name"]
        if name == who.user.name:
            raise web.HTTPConflict(text="You cannot disable yourself.", content_type="text/plain")
        now = int(self.p.clock())
        if not await self.p.accounts.users.update(name, now, disabled=True):
            raise web.HTTPNotFound(text="No such user.", content_type="text/plain")
        ended = await self.p.accounts.sessions.revoke_user(name, now)
        await self._audit(request, "user.disable", name, sessions_ended=ended)
        raise self._back(f"{PREFIX}/users", "disabled")

    async def user_enable(self, request: web.Request) -> web.Response:
        self._who(request, "admin")
        name = request.match_info["name"]
        if not await self.p.accounts.users.update(name, int(self.p.clock()), disabled=False):
            raise web.HTTPNotFound(text="No such user.", content_type="text/plain")
        await self._audit(request, "user.enable", name)
        raise self._back(f"{PREFIX}/users", "enabled")

    async def key_revoke(self, request: web.Request) -> web.Response:
        self._who(request, "admin")
        key_id = request.match_info["id"]
        if not await self.p.keys.revoke(key_id, int(self.p.clock())):
            raise web.HTTPNotFound(text="No active key with this id.", content_type="text/plain")
        await self._audit(request, "key.revoke", key_id)
        raise self._back(f"{PREFIX}/keys", "revoked")


def _harden_stream(response: web.StreamResponse) -> None:
    """The guard's headers, set before the stream is prepared (it cannot add them after)."""
    response.headers["Cache-Control"] = "no-store"
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Content-Type-Options"] = "nosniff"


def _key_state(key: ApiKey, now: float) -> str:
    if key.revoked_at is not None and key.revoked_at <= now:
        return "revoked"
    return "active" if key.usable_at(now) else "expired"


def _next(value: str | None) -> str:
    """A same-site dashboard path to go to after login (never another site)."""
    if value and value.startswith(PREFIX) and "//" not in value and "\\" not in value:
        return value
    return f"{PREFIX}/"


def _int(value: str | None, default: int) -> int:
    try:
        return int(value or "")
    except ValueError:
        return default


def _day(value: str | None, *, end: bool = False) -> int | None:
    if not value:
        return None
    try:
        day = datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        return None
    return int(day.timestamp()) + (86400 if end else 0)


def _note(message: str) -> str:
    return quote(message[:200])


def _csv_value(p: Payment, column: str) -> str:
    value = getattr(p, column)
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return _amount(value)
    if column in ("created_at", "paid_at"):
        return _when(value)
    return str(value)


def _cell(text: str) -> str:
    """A cell a spreadsheet will not run as a formula."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text

"""The dashboard's routes, and its pages about payments, customers, postbacks, vouchers,
funds and the configuration (the overview and the admin's pages are modules of their own;
``pages`` holds what they share; templates are in ``templates/``).

Reads go to the stores; changes go through the same code as the API (``cancel_payment``
and ``voucher.create`` through the method registry, redelivery through the postback
outbox) and each one is written to the audit log with who, what, when and from where.
A viewer reads; an operator also redelivers, cancels and manages vouchers; an admin also
manages API keys.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from importlib import resources
from typing import Any, Final
from urllib.parse import quote

from aiohttp import web

from xbtcpay.commerce.media_access.voucher_store import describe
from xbtcpay.core.errors import RpcError
from xbtcpay.core.invoices import invoice_of
from xbtcpay.core.models import CRYPTO, Payment
from xbtcpay.core.state import OPEN_STATES, State
from xbtcpay.web.admin.accounts import LoginRefused
from xbtcpay.web.admin.administration import Administration
from xbtcpay.web.admin.guard import COOKIE, CSP, PREFIX, SIGNED_IN, over_tls
from xbtcpay.web.admin.overview import Overview
from xbtcpay.web.admin.pages import (
    PAGE_SIZE,
    DashboardParts,
    Pages,
    Renderer,
    amount,
    int_or,
    note_of,
    when,
)
from xbtcpay.web.admin.refunds import RefundPages
from xbtcpay.web.keys import CLIENT_IP
from xbtcpay.web.live import pump

__all__ = ["DashboardParts", "setup_dashboard"]

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


def setup_dashboard(app: web.Application, parts: DashboardParts) -> None:
    """Route ``/admin`` and its pages on ``app`` (the private port or ``admin.listen``)."""
    renderer = Renderer()
    rf = RefundPages(parts, renderer)
    d = Dashboard(parts, renderer, rf)
    o = Overview(parts, renderer)
    a = Administration(parts, renderer)
    r = app.router
    r.add_get(PREFIX, d.to_overview)
    r.add_get(f"{PREFIX}/login", d.login_page)
    r.add_post(f"{PREFIX}/login", d.login)
    r.add_post(f"{PREFIX}/logout", d.logout)
    r.add_get(f"{PREFIX}/", o.overview)
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
    r.add_get(f"{PREFIX}/audit", a.audit_log)
    r.add_get(f"{PREFIX}/keys", a.key_list)
    r.add_post(f"{PREFIX}/keys", a.key_create)
    r.add_post(f"{PREFIX}/keys/{{id}}/revoke", a.key_revoke)
    r.add_get(f"{PREFIX}/users", a.user_list)
    r.add_post(f"{PREFIX}/users/{{name}}/disable", a.user_disable)
    r.add_post(f"{PREFIX}/users/{{name}}/enable", a.user_enable)
    r.add_post(f"{PREFIX}/payments/{{id}}/refund", rf.create)
    r.add_get(f"{PREFIX}/refunds", rf.refund_list)
    r.add_post(f"{PREFIX}/refunds/{{id}}/approve", rf.approve)
    r.add_post(f"{PREFIX}/refunds/{{id}}/cancel", rf.cancel)
    r.add_get(f"{PREFIX}/events", d.events)
    r.add_static(f"{PREFIX}/static/", d.static_dir, append_version=False)

    async def on_shutdown(_: web.Application) -> None:
        parts.live.shutdown()  # open pages reconnect to a running replica

    app.on_shutdown.append(on_shutdown)


class Dashboard(Pages):
    """Login, payments, customers, postbacks, vouchers, funds and the configuration."""

    static_dir = str(resources.files("xbtcpay.web.admin") / "static")

    def __init__(self, parts: DashboardParts, renderer: Renderer, refunds: RefundPages) -> None:
        super().__init__(parts, renderer)
        self.refunds = refunds

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
        page = max(1, int_or(request.query.get("page"), 1))
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
            invoice=invoice_of(payment),
            networks=self.p.networks,
            events=await self.p.payments.events(payment.id),
            deposits=await self.p.deposits.deposits_on_every_chain(payment.id),
            strays=await self.p.deposits.strays_of(payment.id),
            postbacks=postbacks,
            attempts=attempts,
            cancellable=payment.status in OPEN_STATES,
            refunds=await self.refunds.of_payment(request, payment.id),
            refundable=self.refunds.available and payment.method == CRYPTO,
            note=request.query.get("note", ""),
            live=f"{PREFIX}/events?payment={quote(payment.id)}",
        )

    async def cancel(self, request: web.Request) -> web.Response:
        self._who(request, "operator")
        pid = request.match_info["id"]
        try:
            await self.p.registry.call("cancel_payment", {"id": pid}, self._ctx(request))
        except RpcError as exc:
            raise self._back(f"{PREFIX}/payments/{pid}", note_of(exc.message)) from None
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
        pb_id = int_or(request.match_info["id"], 0)
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
            params["max_uses"] = int_or(max_uses, -1)
        try:
            made = await self.p.registry.call("voucher.create", params, self._ctx(request))
        except RpcError as exc:
            return await self.voucher_list(request, error=exc.message)
        await self._audit(request, "voucher.create", str(made.get("id")), grants=params["grants"])
        raise self._back(f"{PREFIX}/vouchers", "created")

    async def voucher_disable(self, request: web.Request) -> web.Response:
        self._who(request, "operator")
        voucher_id = int_or(request.match_info["id"], 0)
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


def _harden_stream(response: web.StreamResponse) -> None:
    """The guard's headers, set before the stream is prepared (it cannot add them after)."""
    response.headers["Cache-Control"] = "no-store"
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Content-Type-Options"] = "nosniff"


def _next(value: str | None) -> str:
    """A same-site dashboard path to go to after login (never another site)."""
    if value and value.startswith(PREFIX) and "//" not in value and "\\" not in value:
        return value
    return f"{PREFIX}/"


def _day(value: str | None, *, end: bool = False) -> int | None:
    if not value:
        return None
    try:
        day = datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        return None
    return int(day.timestamp()) + (86400 if end else 0)


def _csv_value(p: Payment, column: str) -> str:
    value = getattr(p, column)
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return amount(value)
    if column in ("created_at", "paid_at"):
        return when(value)
    return str(value)


def _cell(text: str) -> str:
    """A cell a spreadsheet will not run as a formula."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text

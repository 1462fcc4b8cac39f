"""Refunds on the dashboard: the list (approve, cancel), and a refund from a payment's page.

Every change goes through the same methods as the API (``refund.create``,
``refund.approve``, ``refund.cancel``), so the limits, the states and the payout's
once-only send are theirs; each one lands in the audit log. A viewer reads; an operator
refunds, approves and cancels. Without the refunds feature configured the page says so.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from aiohttp import web

from xbtcpay.core.errors import RpcError
from xbtcpay.web.admin.guard import PREFIX
from xbtcpay.web.admin.pages import Pages, note_of

STATUSES: Final = ("requested", "approved", "sent", "confirmed", "failed", "canceled")


class RefundPages(Pages):
    @property
    def available(self) -> bool:
        return "refund.list" in self.p.registry.names()

    async def refund_list(self, request: web.Request) -> web.Response:
        self._who(request)
        shown = request.query.get("status", "")
        shown = shown if shown in STATUSES else ""
        refunds: list[Mapping[str, Any]] = []
        error = ""
        if self.available:
            params: dict[str, Any] = {"limit": 200, **({"status": shown} if shown else {})}
            try:
                answer = await self.p.registry.call("refund.list", params, self._ctx(request))
                refunds = [r for r in answer.get("refunds", []) if isinstance(r, Mapping)]
            except RpcError as exc:
                error = exc.message
        return self.render(
            request,
            "refunds.html",
            refunds=refunds,
            statuses=STATUSES,
            shown=shown,
            available=self.available,
            error=error,
            note=request.query.get("note", ""),
        )

    async def of_payment(self, request: web.Request, payment_id: str) -> list[Mapping[str, Any]]:
        """The refunds of one payment, for its page (none when refunds are off)."""
        if not self.available:
            return []
        try:
            answer = await self.p.registry.call(
                "refund.list", {"payment": payment_id, "limit": 100}, self._ctx(request)
            )
        except RpcError:
            return []
        return [r for r in answer.get("refunds", []) if isinstance(r, Mapping)]

    async def create(self, request: web.Request) -> web.Response:
        """From a payment's page: an amount (empty: what is left), an address (empty: a
        claim link for the customer) and a reason."""
        self._who(request, "operator")
        pid = request.match_info["id"]
        back = f"{PREFIX}/payments/{pid}"
        form = await request.post()
        params: dict[str, Any] = {"payment": pid}
        for name in ("amount", "address", "reason"):
            value = str(form.get(name, "")).strip()
            if value:
                params[name] = value
        params.setdefault("reason", "refunded from the dashboard")
        try:
            made = await self.p.registry.call("refund.create", params, self._ctx(request))
        except RpcError as exc:
            raise self._back(back, note_of(exc.message)) from None
        await self._audit(
            request,
            "refund.create",
            str(made.get("id")),
            payment=pid,
            amount=made.get("amount"),
            asset=made.get("asset"),
            address=made.get("address"),
        )
        raise self._back(back, "refund_created")

    async def approve(self, request: web.Request) -> web.Response:
        return await self._change(request, "refund.approve", "approved")

    async def cancel(self, request: web.Request) -> web.Response:
        return await self._change(request, "refund.cancel", "refund_canceled")

    async def _change(self, request: web.Request, method: str, done: str) -> web.Response:
        self._who(request, "operator")
        refund_id = request.match_info["id"]
        back = f"{PREFIX}/refunds"
        try:
            await self.p.registry.call(method, {"refund": refund_id}, self._ctx(request))
        except RpcError as exc:
            raise self._back(back, note_of(exc.message)) from None
        await self._audit(request, method, refund_id)
        raise self._back(back, done)

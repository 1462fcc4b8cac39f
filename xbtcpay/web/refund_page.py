"""``/refund/<token>`` on the public port: the claim page of a refund (docs/refunds.md).

GET shows the refund; POST takes the customer's address once and answers with a redirect
to the same page (reloading it never posts twice). An unknown or malformed token is a 404
that says nothing about other refunds.
"""

from __future__ import annotations

from typing import Final

from aiohttp import web

from xbtcpay.refunds.claim import RefundClaims
from xbtcpay.refunds.claim_html import render

PAGE_HEADERS: Final = {
    "Cache-Control": "private, no-store",
    "Referrer-Policy": "no-referrer",
    "X-Robots-Tag": "noindex",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'"
    ),
}
MAX_FORM = 4096


def setup_refund_page(app: web.Application, claims: RefundClaims) -> None:
    page = RefundPage(claims)
    app.router.add_get("/refund/{token}", page.get)
    app.router.add_post("/refund/{token}", page.post)


def _unknown() -> web.Response:
    return web.Response(status=404, text="unknown refund link", content_type="text/plain")


class RefundPage:
    def __init__(self, claims: RefundClaims) -> None:
        self.claims = claims

    async def get(self, request: web.Request) -> web.Response:
        view = await self.claims.view(request.match_info["token"])
        if view is None:
            return _unknown()
        return web.Response(text=render(view), content_type="text/html", headers=PAGE_HEADERS)

    async def post(self, request: web.Request) -> web.Response:
        token = request.match_info["token"]
        if request.content_length is not None and request.content_length > MAX_FORM:
            return web.Response(status=413, text="form too large", content_type="text/plain")
        form = await request.post()
        address = form.get("address")
        entered = address if isinstance(address, str) else ""
        view, error = await self.claims.claim(token, entered)
        if view is None:
            return _unknown()
        if error is None:
            raise web.HTTPSeeOther(location=request.path)
        return web.Response(
            status=400,
            text=render(view, error, entered[:100]),
            content_type="text/html",
            headers=PAGE_HEADERS,
        )

"""``GET /receipts/<view token>`` on the public port: the printable receipt, or 404.

The page itself is rendered by ``xbtcpay.commerce.purchases.html.render``; this route finds
the receipt and sends the page so that no shared cache, referrer or search engine keeps it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from aiohttp import web

from xbtcpay.commerce.currencies import Currency
from xbtcpay.commerce.purchases.html import render
from xbtcpay.commerce.purchases.receipts import ReceiptReader
from xbtcpay.commerce.settings import Company

PAGE_HEADERS: Final = {
    "Cache-Control": "private, no-store",
    "Referrer-Policy": "no-referrer",
    "X-Robots-Tag": "noindex",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
}


def setup_receipt_page(app: web.Application, page: ReceiptPage) -> None:
    app.router.add_get("/receipts/{token}", page.get)


class ReceiptPage:
    """Finds a receipt by its view token and renders it with its company and currency."""

    def __init__(
        self,
        receipts: ReceiptReader,
        currency: Callable[[str], Currency | None],
        company: Callable[[str | None], Company],
    ) -> None:
        self.receipts = receipts
        self.currency = currency
        self.company = company

    async def get(self, request: web.Request) -> web.Response:
        token = request.match_info["token"]
        found = await self.receipts.by_view_token(token) if 16 <= len(token) <= 64 else None
        if found is None:
            return web.Response(status=404, text="unknown receipt", content_type="text/plain")
        currency = self.currency(found.currency)
        assert currency is not None
        page = render(found, self.company(found.company), currency)
        return web.Response(text=page, content_type="text/html", headers=PAGE_HEADERS)

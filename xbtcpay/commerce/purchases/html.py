"""The printable HTML receipt: ``GET /receipts/<view token>`` on the public port.

The token is 192 random bits drawn when the receipt is issued; the page shows no more than
the receipt itself (masked card, no customer id) and is never cached by shared caches.
"""

from __future__ import annotations

from datetime import UTC, datetime
from html import escape

from xbtcpay.commerce.currencies import Currency
from xbtcpay.commerce.purchases.receipts import CREDIT_NOTE, Receipt, mask
from xbtcpay.commerce.settings import Company

_STYLE = (
    "body{font:14px/1.4 system-ui,sans-serif;max-width:36em;margin:2em auto;color:#111}"
    "table{width:100%;border-collapse:collapse}td{padding:.3em 0}"
    ".n{text-align:right;font-variant-numeric:tabular-nums}"
    ".t td{border-top:1px solid #999;font-weight:600}@media print{body{margin:0}}"
)


def render(receipt: Receipt, company: Company, currency: Currency) -> str:
    """A self-contained page (no scripts, no external resources)."""
    fmt = currency.format
    title = "Credit note" if receipt.kind == CREDIT_NOTE else "Tax invoice / receipt"
    rows = "".join(
        f"<tr><td>{escape(x.description)} &times; {x.quantity}</td>"
        f"<td class=n>{fmt(x.amount)} {escape(receipt.currency)}</td></tr>"
        for x in receipt.lines
    )
    card = mask(receipt.card_brand, receipt.card_last4)
    original = (
        f"<p>Refers to receipt {escape(receipt.original_number)}</p>"
        if receipt.original_number
        else ""
    )
    tax_label = f"Tax ({_percent(receipt.tax_rate)})" if receipt.tax else "Tax"
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        f"<title>{escape(title)} {escape(receipt.number)}</title><style>{_STYLE}</style>"
        "</head><body>"
        f"<h1>{escape(company.name)}</h1>"
        + (f"<p>ABN / tax id: {escape(company.tax_id)}</p>" if company.tax_id else "")
        + f"<h2>{escape(title)} {escape(receipt.number)}</h2>{original}"
        f"<p>Issued {_when(receipt.issued_at)}</p>"
        f"<table>{rows}"
        f"<tr class=t><td>Total</td><td class=n>{fmt(receipt.total)} "
        f"{escape(receipt.currency)}</td></tr>"
        f"<tr><td>{escape(tax_label)}</td><td class=n>{fmt(receipt.tax)}</td></tr>"
        f"<tr><td>Amount less tax</td><td class=n>{fmt(receipt.less_tax)}</td></tr></table>"
        f"<p>Paid with {escape(_method(receipt.method))}"
        + (f", {escape(card)}" if card else "")
        + "</p></body></html>"
    )


def _percent(rate: str) -> str:
    from decimal import Decimal

    return f"{(Decimal(rate) * 100).normalize():f} %"


def _when(at: int) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M UTC")


def _method(method: str) -> str:
    return f"{method.split(':', 1)[1]} balance" if method.startswith("balance:") else method

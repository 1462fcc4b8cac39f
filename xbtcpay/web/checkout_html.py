"""The checkout page's HTML, rendered from a ``CheckoutView`` and a message catalog.

Everything is escaped here; no inline script or style (the page's CSP forbids both). The
``#view`` element is what the page's script swaps when the payment changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape
from string import Template
from urllib.parse import quote

from xbtcpay.web import checkout_view as cv
from xbtcpay.web.messages import Catalog
from xbtcpay.web.qr import qr_svg

REFRESH_SECONDS = 10


@dataclass(frozen=True)
class PageContext:
    """What the page around the view needs: language, assets, embedding."""

    catalog: Catalog
    languages: tuple[tuple[str, str], ...]  # (code, name), for the language links
    css_url: str
    js_url: str
    icon_url: str = ""
    embed: bool = False
    parent_origin: str = ""


def e(text: object) -> str:
    return escape(str(text), quote=True)


def countdown_text(seconds: int) -> str:
    seconds = max(0, seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


def render_page(template: Template, view: cv.CheckoutView, key: str, ctx: PageContext) -> str:
    t = ctx.catalog.text
    refresh = ""
    if view.live:
        refresh = f'<noscript><meta http-equiv="refresh" content="{REFRESH_SECONDS}"></noscript>'
    return template.substitute(
        lang=e(ctx.catalog.language),
        title=e(t("title", amount=view.price or view.amount)),
        css=e(ctx.css_url),
        js=e(ctx.js_url),
        icon=e(ctx.icon_url),
        refresh=refresh,
        body_class="embed" if ctx.embed else "page",
        payment=e(view.payment_id),
        embed="1" if ctx.embed else "0",
        origin=e(ctx.parent_origin),
        copied=e(t("copied")),
        expiring=e(t("expiring")),
        view=render_view(view, key, ctx),
        live_hint=e(t("live_hint")),
        nojs_hint=e(t("nojs_hint")) if view.live else "",
        languages=_languages(view, ctx),
    )


def render_view(view: cv.CheckoutView, key: str, ctx: PageContext) -> str:
    c = ctx.catalog
    ends = view.quote_expires_at if view.choosing else view.expires_at
    attrs = (
        f'id="view" data-kind="{e(view.kind)}" data-status="{e(view.status)}" '
        f'data-key="{e(key)}" data-now="{view.now}" '
        f'data-expires="{"" if ends is None else ends}" '
        f'data-option="{e(view.option)}" '
        f'data-live="{"1" if view.live else "0"}"'
    )
    body = [f"<h1>{e(c.text('pay_heading', amount=view.price or view.amount))}</h1>"]
    if view.fiat and not view.price:
        body.append(f'<p class="fiat">{e(c.text("fiat_price", amount=view.fiat))}</p>')
    body.append(_status(view, c))
    if view.choosing:
        body.extend(_picker(view, c))
    body.extend(_details(view, c))
    return f"<div {attrs}>{''.join(body)}</div>"


def _picker(view: cv.CheckoutView, c: Catalog) -> list[str]:
    """The options of an invoice priced in fiat, as links: the page of each option works
    without script, and the shown option survives the page's live refreshes."""
    items = []
    for o in view.options:
        current = ' aria-current="true"' if o.asset == view.option else ""
        text = c.text("option_line", amount=f"{o.amount} {o.unit}", network=o.network)
        rate = c.text("option_rate", rate=o.rate, currency=view.currency, unit=o.unit)
        items.append(
            f'<li><a class="option" data-asset="{e(o.asset)}" '
            f'href="/pay/{quote(view.payment_id)}?option={quote(o.asset)}"{current}>'
            f'<span class="option-amount">{e(text)}</span> '
            f'<span class="option-rate">{e(rate)}</span></a></li>'
        )
    return [
        f'<nav class="options" aria-label="{e(c.text("pay_with"))}">'
        f'<p class="options-label">{e(c.text("pay_with"))}</p>'
        f"<ul>{''.join(items)}</ul></nav>"
    ]


def _status(view: cv.CheckoutView, c: Catalog) -> str:
    key = {
        cv.OPEN: "status_waiting",
        cv.PARTIAL: "status_partial",
        cv.CONFIRMING: "status_confirming",
        cv.PAID: "status_paid",
        cv.EXPIRED: "status_expired",
        cv.PROVIDER: "provider_waiting",
    }.get(view.kind, "status_" + view.status)
    text = c.text(key, method=view.method.capitalize())
    return f'<p id="status" class="status status-{e(view.kind)}" role="status">{e(text)}</p>'


def _details(view: cv.CheckoutView, c: Catalog) -> list[str]:
    delayed = [_note(c.text("confirmations_delayed"))] if view.delayed and view.live else []
    if view.kind in (cv.OPEN, cv.PARTIAL):
        return delayed + _request(view, c)
    if view.kind == cv.CONFIRMING:
        return [*delayed, _confirmations(view, c), _tx(view, c)]
    if view.kind == cv.PAID:
        return _paid(view, c)
    if view.kind == cv.EXPIRED:
        notes = [f"<p>{e(c.text('expired_text'))}</p>"]
        if view.underpaid:
            notes.append(_note(c.text("underpaid", received=view.received, amount=view.amount)))
        return notes + _links(view, c)
    return _links(view, c)


def _request(view: cv.CheckoutView, c: Catalog) -> list[str]:
    out: list[str] = []
    if view.kind == cv.PARTIAL:
        out.append(
            f'<p class="received">{e(c.text("received", amount=view.received))}</p>'
            f'<p class="due">{e(c.text("still_due", amount=view.due))}</p>'
        )
    if view.choosing and view.quote_expires_at is not None:
        out.append(
            f'<p class="countdown">{e(c.text("price_locked"))} '
            f'<time id="countdown">{countdown_text(view.quote_expires_at - view.now)}</time>'
            "</p>"
        )
    elif view.expires_at is not None:
        out.append(
            f'<p class="countdown">{e(c.text("expires_in"))} '
            f'<time id="countdown">{countdown_text(view.expires_at - view.now)}</time>'
            "</p>"
        )
    if view.payment_uri:
        out.append(
            f'<figure class="qr-box">{qr_svg(view.payment_uri, c.text("qr_label"))}</figure>'
        )
    out.append(
        _copy_field(
            "amount",
            c.text("amount_label"),
            view.due_plain,
            view.due.rsplit(" ", 1)[-1],
            c.text("copy_amount"),
            c,
        )
    )
    if view.address:
        out.append(
            _copy_field(
                "address", c.text("address_label"), view.address, "", c.text("copy_address"), c
            )
        )
    network = view.network or f"chain {view.chain_id}"
    hint = c.text("send_exactly", chain_id=view.chain_id, network=network)
    out.append(f'<p class="hint">{e(hint)}</p>')
    if view.payment_uri:
        out.append(
            f'<p><a class="button" id="open-wallet" href="{e(view.payment_uri)}">'
            f"{e(c.text('open_wallet'))}</a></p>"
        )
    return out


def _copy_field(name: str, label: str, value: str, unit: str, button: str, c: Catalog) -> str:
    suffix = f'<span class="unit">{e(unit)}</span>' if unit else ""
    return (
        f'<div class="field"><label for="{name}">{e(label)}</label>'
        f'<div class="copy-row"><input id="{name}" class="mono" readonly '
        f'value="{e(value)}">{suffix}<button type="button" class="copy" '
        f'data-copy="{name}" aria-label="{e(button)}">{e(c.text("copy"))}</button>'
        "</div></div>"
    )


def _confirmations(view: cv.CheckoutView, c: Catalog) -> str:
    required = view.required
    seen = view.confirmations if required is None else min(view.confirmations, required)
    text = c.text("confirmations", n=seen, m="?" if required is None else required)
    return f'<p id="confirmations" class="confirmations">{e(text)}</p>'


def _tx(view: cv.CheckoutView, c: Catalog) -> str:
    if not view.tx_hash:
        return ""
    return f'<p class="tx">{e(c.text("tx_label"))}: <span class="mono">{e(view.tx_hash)}</span></p>'


def _paid(view: cv.CheckoutView, c: Catalog) -> list[str]:
    received = view.received if view.overpaid else view.amount
    out = [f"<p>{e(c.text('paid_text', amount=received))}</p>"]
    paid = view.paid_option
    if paid is not None:
        text = c.text(
            "paid_with",
            amount=f"{paid.amount} {paid.unit}",
            network=paid.network,
            rate=paid.rate,
            currency=view.currency,
            unit=paid.unit,
        )
        out.append(f'<p class="paid-option">{e(text)}</p>')
    if view.late:
        out.append(_note(c.text("paid_late")))
    if view.overpaid:
        out.append(_note(c.text("overpaid", received=view.received, amount=view.amount)))
    if view.reorged:
        out.append(_note(c.text("reorged")))
    return out + _links(view, c)


def _note(text: str) -> str:
    return f'<p class="note">{e(text)}</p>'


def _links(view: cv.CheckoutView, c: Catalog) -> list[str]:
    out = []
    if view.receipt_url:
        out.append(
            f'<a class="button secondary" id="receipt" href="{e(view.receipt_url)}" '
            f'rel="noopener">{e(c.text("receipt"))}</a>'
        )
    if view.return_url:
        out.append(
            f'<a class="button" id="return" href="{e(view.return_url)}" '
            f'target="_top" rel="noopener">{e(c.text("back_to_shop"))}</a>'
        )
    return [f'<p class="links">{" ".join(out)}</p>'] if out else []


def _languages(view: cv.CheckoutView, ctx: PageContext) -> str:
    links = []
    for code, name in ctx.languages:
        current = ' aria-current="true"' if code == ctx.catalog.language else ""
        query = f"?lang={code}" + (
            "&embed=1&origin=" + quote(ctx.parent_origin, safe="") if ctx.embed else ""
        )
        links.append(
            f'<a href="/pay/{quote(view.payment_id)}{e(query)}" hreflang="{code}" '
            f'lang="{code}"{current}>{e(name)}</a>'
        )
    return (
        f'<nav class="languages" aria-label="{e(ctx.catalog.text("language"))}">'
        + " ".join(links)
        + "</nav>"
    )

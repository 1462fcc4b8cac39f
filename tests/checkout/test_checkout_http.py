"""The checkout page over real HTTP: states, languages, headers, assets, return_url."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

from tests.checkout.clock import FrozenClock
from tests.harness import running_daemon
from xbtcpay.core.models import PaymentEvent
from xbtcpay.core.state import Event
from xbtcpay.web.checkout_html import PageContext, render_view
from xbtcpay.web.checkout_view import PAID, CheckoutView
from xbtcpay.web.messages import choose_language, load_catalogs

TX = "0x" + "ab" * 32


async def page(
    d: object, pid: str, query: str = "", **headers: str
) -> tuple[int, dict[str, str], str]:
    async with d.session.get(  # type: ignore[attr-defined]
        f"{d.public_url}/pay/{pid}{query}",  # type: ignore[attr-defined]
        headers=headers,
        allow_redirects=False,
    ) as resp:
        return resp.status, dict(resp.headers), await resp.text()


async def test_open_payment_shows_amount_address_qr_and_countdown(tmp_path: Path) -> None:
    async with running_daemon(tmp_path, clock=FrozenClock()) as d:
        created = await d.start_payment("1.5", expires_in=600)
        status, headers, body = await page(d, created["id"])
        assert status == 200 and headers["Content-Type"].startswith("text/html")
        assert "Pay 1.5 0XBTC" in body and "Waiting for your payment" in body
        assert f'value="{created["address"]}"' in body and 'value="1.5"' in body
        assert '<svg role="img"' in body and "10:00" in body
        assert f'href="{created["payment_uri"].replace("&", "&amp;")}"' in body
        assert created["checkout_url"] == f"{d.config.public.base_url}/pay/{created['id']}"


async def test_strict_headers_and_no_external_assets(tmp_path: Path) -> None:
    async with running_daemon(tmp_path) as d:
        pid = (await d.start_payment("1"))["id"]
        _, headers, body = await page(d, pid)
        csp = headers["Content-Security-Policy"]
        assert "default-src 'none'" in csp and "script-src 'self'" in csp
        assert "frame-ancestors 'none'" in csp and headers["X-Frame-Options"] == "DENY"
        assert "unsafe-inline" not in csp and headers["Cache-Control"] == "no-store"
        assert re.findall(r'(?:src|href)="(https?:)?//', body) == []
        assert " style=" not in body and "<script>" not in body
        _, embed_headers, _ = await page(d, pid, "?embed=1&origin=https://shop.example")
        assert "frame-ancestors *" in embed_headers["Content-Security-Policy"]
        assert "X-Frame-Options" not in embed_headers


async def test_embed_only_messages_allowed_origins(tmp_path: Path) -> None:
    """Fails when the embedding origin is taken without checking public.cors_origins."""
    async with running_daemon(tmp_path, {"public": {"cors_origins": ["https://a.example"]}}) as d:
        pid = (await d.start_payment("1"))["id"]
        _, headers, body = await page(d, pid, "?embed=1&origin=https://a.example")
        assert 'data-origin="https://a.example"' in body
        assert headers["Content-Security-Policy"].endswith("frame-ancestors https://a.example")
        _, _, body = await page(d, pid, "?embed=1&origin=https://evil.example")
        assert 'data-origin=""' in body


async def test_assets_are_versioned_and_answer_304(tmp_path: Path) -> None:
    async with running_daemon(tmp_path) as d:
        pid = (await d.start_payment("1"))["id"]
        _, _, body = await page(d, pid)
        js = re.search(r'src="(/pay-assets/checkout\.js\?v=[0-9a-f]+)"', body)
        assert js is not None
        async with d.session.get(d.public_url + js.group(1)) as resp:
            assert resp.status == 200 and "immutable" in resp.headers["Cache-Control"]
            assert resp.headers["Content-Type"].startswith("text/javascript")
            etag = resp.headers["ETag"]
        async with d.session.get(
            d.public_url + js.group(1), headers={"If-None-Match": etag}
        ) as resp:
            assert resp.status == 304
        async with d.session.get(d.public_url + "/widget.js") as resp:
            assert resp.status == 200 and resp.headers["Cache-Control"] == "public, max-age=300"
        async with d.session.get(d.public_url + "/pay-assets/../app.py") as resp:
            assert resp.status == 404


async def test_unknown_and_malformed_ids_are_404_pages(tmp_path: Path) -> None:
    async with running_daemon(tmp_path) as d:
        for pid in ("A" * 23, "bad%20id", "x"):
            status, headers, body = await page(d, pid)
            assert status == 404 and "This payment does not exist." in body
            assert "default-src 'none'" in headers["Content-Security-Policy"]
        async with d.session.get(f"{d.public_url}/pay/{'A' * 23}/events") as resp:
            assert resp.status == 404


async def test_languages_from_query_and_accept_language(tmp_path: Path) -> None:
    async with running_daemon(tmp_path) as d:
        pid = (await d.start_payment("1"))["id"]
        _, headers, body = await page(d, pid, **{"Accept-Language": "fr;q=0.9, de;q=0.8"})
        assert headers["Content-Language"] == "de" and "Wir warten auf Ihre Zahlung" in body
        _, _, body = await page(d, pid, "?lang=es", **{"Accept-Language": "de"})
        assert '<html lang="es">' in body and "Esperando su pago" in body
        _, _, body = await page(d, pid, "?lang=xx", **{"Accept-Language": "zz"})
        assert '<html lang="en">' in body


def test_accept_language_ranking() -> None:
    available = frozenset({"en", "de", "es"})
    assert choose_language(None, "es-ES,es;q=0.9,de;q=0.95", available) == "es"
    assert choose_language(None, "de;q=0.1, es;q=0.5", available) == "es"
    assert choose_language(None, "es;q=0, de;q=0.2", available) == "de"
    assert choose_language(None, "*, fr", available) == "en"
    assert choose_language("DE", "es", available) == "de"
    assert choose_language(None, "de;q=abc, es", available) == "es"


async def test_partial_confirming_and_paid_states(tmp_path: Path) -> None:
    async with running_daemon(tmp_path) as d:
        pid = (await d.start_payment("2", return_url="https://shop.example/done?o=1"))["id"]
        await d.processor.apply(
            pid, PaymentEvent(Event.SEEN, amount_received=Decimal("0.5"), tx_hash=TX, tx_block=5)
        )
        _, _, body = await page(d, pid)
        assert "Partial payment received" in body and "Still due: 1.5 0XBTC" in body
        assert 'value="1.5"' in body and "uint256=150000000" in body
        await d.processor.apply(pid, PaymentEvent(Event.RECEIVED, amount_received=Decimal(2)))
        d.runtime.head.set(6)
        _, _, body = await page(d, pid)
        assert "2 of 3 confirmations" in body and TX in body
        await d.processor.apply(pid, PaymentEvent(Event.PAID))
        _, _, body = await page(d, pid)
        assert "Paid" in body and "Thank you. 2.0 0XBTC was received." in body
        assert 'href="https://shop.example/done?o=1"' in body and "refresh" not in body


async def test_expired_underpaid_late_and_overpaid_are_said_plainly(tmp_path: Path) -> None:
    async with running_daemon(tmp_path) as d:
        pid = (await d.start_payment("2"))["id"]
        await d.processor.apply(pid, PaymentEvent(Event.SEEN, amount_received=Decimal("0.5")))
        await d.processor.apply(pid, PaymentEvent(Event.EXPIRED))
        _, _, body = await page(d, pid)
        assert "This payment request has expired" in body
        assert "still detected and counted" in body
        assert "Underpaid: 0.5 0XBTC of 2.0 0XBTC arrived" in body
        await d.processor.apply(pid, PaymentEvent(Event.RECEIVED, amount_received=Decimal(3)))
        await d.processor.apply(pid, PaymentEvent(Event.PAID))
        _, _, body = await page(d, pid)
        assert "arrived after the request expired. It was still counted." in body
        assert "You sent 3.0 0XBTC, more than the 2.0 0XBTC asked for." in body
        await d.processor.apply(pid, PaymentEvent(Event.REORGED))
        _, _, body = await page(d, pid)
        assert "The blockchain was reorganized" in body


async def test_canceled_payment_is_a_closed_page(tmp_path: Path) -> None:
    async with running_daemon(tmp_path) as d:
        pid = (await d.start_payment("2"))["id"]
        await d.call("cancel_payment", {"id": pid})
        _, _, body = await page(d, pid, "?lang=de")
        assert "Diese Zahlung wurde storniert" in body and 'data-live="0"' in body


async def test_start_payment_validates_return_url_and_fiat(tmp_path: Path) -> None:
    async with running_daemon(tmp_path) as d:
        for params in (
            {"return_url": "javascript:alert(1)"},
            {"return_url": 5},
            {"fiat": "12 EUR"},
            {"fiat": {"amount": "-1", "currency": "EUR"}},
            {"fiat": {"amount": "1", "currency": "EURO"}},
            {"fiat": {"amount": True, "currency": "EUR"}},
        ):
            reply = await d.call("start_payment", {"amount": "1", **params})
            assert reply["error"]["code"] == -32602, (params, reply)
        total = await d.runtime.payments.count_by_status()
        assert sum(total.values()) == 0


async def test_the_return_url_is_escaped_in_the_link_back_to_the_shop(tmp_path: Path) -> None:
    url = "https://shop.example/done?o=1&next='home'"
    async with running_daemon(tmp_path) as d:
        pid = (await d.start_payment("2", return_url=url))["id"]
        await d.processor.apply(pid, PaymentEvent(Event.PAID, amount_received=Decimal(2)))
        _, _, body = await page(d, pid)
        assert 'href="https://shop.example/done?o=1&amp;next=&#x27;home&#x27;"' in body
        assert url not in body


def test_the_page_renders_a_return_url_with_markup_characters_escaped() -> None:
    url = "https://shop.example/done?a=\"x\"&b=<y>&c='z'"
    view = CheckoutView(
        payment_id="pay_1",
        kind=PAID,
        status="paid",
        method="crypto",
        amount="2 0XBTC",
        amount_plain="2",
        received="2 0XBTC",
        due="0 0XBTC",
        due_plain="0",
        address=None,
        payment_uri=None,
        chain_id=31337,
        confirmations=3,
        required=3,
        expires_at=None,
        now=0,
        late=False,
        overpaid=False,
        reorged=False,
        underpaid=False,
        fiat=None,
        return_url=url,
        receipt_url=None,
        tx_hash=None,
    )
    ctx = PageContext(load_catalogs()["en"], (("en", "English"),), "/c.css", "/c.js")
    html = render_view(view, "key", ctx)
    assert (
        'href="https://shop.example/done?a=&quot;x&quot;&amp;b=&lt;y&gt;&amp;c=&#x27;z&#x27;"'
        in html
    )
    assert url not in html and "<y>" not in html

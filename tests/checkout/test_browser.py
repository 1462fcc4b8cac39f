"""The checkout page in Debian's headless Chromium: texts, QR, live updates, no-JS, widget."""

from __future__ import annotations

import time
from decimal import Decimal
from pathlib import Path

from playwright.async_api import Browser, expect

from tests.chain.watching import units, watching
from tests.checkout.browser import browser, browser_without_js, decode_qr, shot, start_shop
from tests.checkout.clock import FrozenClock
from tests.fixtures.chain import DevChain
from tests.harness import DaemonHandle, running_daemon, wait_until
from xbtcpay.core.models import PaymentEvent
from xbtcpay.core.state import Event
from xbtcpay.web.keys import CHECKOUT
from xbtcpay.web.live import LiveHub

__all__ = ["browser", "browser_without_js"]


def hub_of(d: DaemonHandle) -> LiveHub:
    """The daemon's live feed (to wait until the page's stream is open)."""
    public = next(r.app for r in d.daemon._runners if CHECKOUT in r.app)
    return public[CHECKOUT].hub


async def test_page_texts_and_qr_code_of_the_payment_uri(tmp_path: Path, browser: Browser) -> None:
    async with running_daemon(tmp_path) as d:
        created = await d.start_payment("1.5", fiat={"amount": "12.50", "currency": "EUR"})
        page = await browser.new_page(viewport={"width": 480, "height": 1100})
        requests: list[str] = []
        console: list[str] = []
        page.on("request", lambda r: requests.append(r.url))
        page.on("console", lambda m: console.append(m.text))
        await page.goto(created["checkout_url"])
        await expect(page.locator("h1")).to_have_text("Pay 1.5 0XBTC")
        await expect(page.locator("#status")).to_have_text("Waiting for your payment")
        await expect(page.locator(".fiat")).to_have_text("Price: 12.50 EUR")
        await expect(page.get_by_label("Deposit address", exact=True)).to_have_value(
            created["address"]
        )
        await expect(page.get_by_label("Amount", exact=True)).to_have_value("1.5")
        await expect(page.locator("#live-hint")).to_be_visible()
        href = await page.get_by_role("link", name="Open in wallet").get_attribute("href")
        assert href == created["payment_uri"]
        png = await shot(page, "open")
        assert decode_qr(png) == [created["payment_uri"]]
        await expect(page.locator("#checkout")).to_have_attribute("data-transport", "sse")
        assert [u for u in requests if not u.startswith(d.public_url + "/")] == []
        assert {u.split("?")[0].removeprefix(d.public_url) for u in requests} == {
            f"/pay/{created['id']}",
            "/pay-assets/checkout.css",
            "/pay-assets/checkout.js",
            f"/pay/{created['id']}/events",
            "/pay-assets/icon.svg",
        }
        assert console == []  # no Content-Security-Policy report, no script error
        assert "uint256=150000000" in created["payment_uri"]


async def test_usable_at_320_px_and_copy_buttons_are_labelled(
    tmp_path: Path, browser: Browser
) -> None:
    async with running_daemon(tmp_path) as d:
        created = await d.start_payment("20999983.12345678")
        page = await browser.new_page(viewport={"width": 320, "height": 900})
        await page.goto(created["checkout_url"])
        width = await page.evaluate("document.documentElement.scrollWidth")
        assert width <= 320
        await expect(page.get_by_role("button", name="Copy address")).to_be_visible()
        await expect(page.get_by_role("button", name="Copy amount")).to_be_visible()
        await shot(page, "open-320px")


async def test_pay_on_anvil_and_see_paid_through_sse(
    tmp_path: Path, chain: DevChain, browser: Browser
) -> None:
    async with watching(tmp_path, chain) as w:
        created = await w.pay_request("2", return_url="https://shop.example/thanks")
        page = await browser.new_page()
        await page.goto(created["checkout_url"])
        await wait_until(lambda: hub_of(w.d).count == 1)
        await page.evaluate("window.notReloaded = true")
        await chain.pay_tokens(created["address"], units("2"))
        await expect(page.locator("#status")).to_have_text(
            "Payment seen, waiting for confirmations"
        )
        await expect(page.locator("#confirmations")).to_contain_text("of 3 confirmations")
        await shot(page, "confirming")
        await chain.mine(3)
        await expect(page.locator("#status")).to_have_text("Paid", timeout=15_000)
        _, doc = await w.d.status(created["id"])
        assert doc["status"] == "paid"
        assert await page.evaluate("window.notReloaded === true")
        assert await page.locator("#checkout").get_attribute("data-transport") == "sse"
        link = page.get_by_role("link", name="Back to the shop")
        assert await link.get_attribute("href") == "https://shop.example/thanks"
        await shot(page, "paid")


async def test_countdown_with_an_injected_clock_then_expiry(
    tmp_path: Path, browser: Browser
) -> None:
    clock = FrozenClock()
    async with running_daemon(tmp_path, clock=clock) as d:
        created = await d.start_payment("1", expires_in=900)
        page = await browser.new_page()
        started = time.time()
        await page.clock.install(time=started)
        await page.clock.pause_at(started + 1)  # the page's clock moves only when told to
        await page.goto(created["checkout_url"])
        await expect(page.locator("#countdown")).to_have_text("15:00")
        await page.clock.fast_forward("10:00")
        await expect(page.locator("#countdown")).to_have_text("05:00")
        await page.clock.fast_forward("05:00")
        await expect(page.locator("#countdown")).to_have_text("Expiring now")
        clock.advance(901)
        await expect(page.locator("#status")).to_have_text(
            "This payment request has expired", timeout=15_000
        )
        await expect(page.locator("body")).to_contain_text("still detected and counted")
        await shot(page, "expired")


async def test_without_javascript_the_page_refreshes_itself(
    tmp_path: Path, browser_without_js: Browser
) -> None:
    async with running_daemon(tmp_path) as d:
        created = await d.start_payment("1")
        page = await browser_without_js.new_page()
        await page.goto(created["checkout_url"])
        await expect(page.locator("#status")).to_have_text("Waiting for your payment")
        # Playwright's text locators skip <noscript>; the rendered text shows it
        assert "This page reloads every 10 seconds." in await page.inner_text("body")
        await expect(page.locator("#live-hint")).to_be_hidden()
        assert decode_qr(await shot(page, "nojs-open")) == [created["payment_uri"]]
        await d.processor.apply(
            created["id"],
            PaymentEvent(Event.PAID, amount_received=Decimal(1), tx_hash="0x" + "12" * 32),
        )
        await expect(page.locator("#status")).to_have_text("Paid", timeout=20_000)
        await shot(page, "nojs-paid")


async def test_three_languages(tmp_path: Path, browser: Browser) -> None:
    async with running_daemon(tmp_path) as d:
        created = await d.start_payment("1")
        expected = {
            "en-US": ("Waiting for your payment", "Deposit address"),
            "de-DE": ("Wir warten auf Ihre Zahlung", "Einzahlungsadresse"),
            "es-ES": ("Esperando su pago", "Dirección de depósito"),
        }
        for locale, (status, label) in expected.items():
            context = await browser.new_context(locale=locale)
            page = await context.new_page()
            await page.goto(created["checkout_url"])
            await expect(page.locator("#status")).to_have_text(status)
            await expect(page.get_by_label(label, exact=True)).to_have_value(created["address"])
            assert await page.get_attribute("html", "lang") == locale[:2]
            await shot(page, f"open-{locale[:2]}")
            await context.close()
        page = await browser.new_page(locale="de-DE")
        await page.goto(created["checkout_url"])
        await page.get_by_role("link", name="Español").click()
        await expect(page.locator("#status")).to_have_text("Esperando su pago")


async def test_widget_on_a_page_of_another_origin(tmp_path: Path, browser: Browser) -> None:
    async with running_daemon(tmp_path) as d:
        created = await d.start_payment("1")
        shop = await start_shop(d.public_url, created["id"])
        try:
            page = await browser.new_page()
            await page.goto(shop.url)
            frame = page.frame_locator("iframe.xbtcpay-widget")
            await expect(frame.locator("#status")).to_have_text("Waiting for your payment")
            await wait_until(lambda: hub_of(d).count == 1)
            await d.processor.apply(
                created["id"],
                PaymentEvent(Event.PAID, amount_received=Decimal(1), tx_hash="0x" + "34" * 32),
            )
            await expect(frame.locator("#status")).to_have_text("Paid", timeout=15_000)
            messages = page.locator("#messages li")
            await expect(messages.first).to_be_visible()
            texts = await messages.all_inner_texts()
            assert f"message xbtcpay:paid {created['id']} from {d.public_url}" in texts
            assert "event paid" in texts
            await shot(page, "widget-paid")
        finally:
            await shop.runner.cleanup()


async def test_polling_fallback_when_the_stream_is_refused(
    tmp_path: Path, browser: Browser
) -> None:
    async with running_daemon(tmp_path) as d:
        created = await d.start_payment("1")
        page = await browser.new_page()
        await page.route("**/events", lambda route: route.fulfill(status=503, body="full"))
        await page.goto(created["checkout_url"])
        await expect(page.locator("#checkout")).to_have_attribute("data-transport", "poll")
        await d.processor.apply(
            created["id"],
            PaymentEvent(Event.PAID, amount_received=Decimal(1), tx_hash="0x" + "78" * 32),
        )
        await expect(page.locator("#status")).to_have_text("Paid", timeout=15_000)


async def test_keyboard_focus_follows_the_reading_order(tmp_path: Path, browser: Browser) -> None:
    async with running_daemon(tmp_path) as d:
        created = await d.start_payment("1")
        page = await browser.new_page()
        await page.goto(created["checkout_url"])
        order = []
        for _ in range(6):
            await page.keyboard.press("Tab")
            order.append(
                await page.evaluate(
                    "document.activeElement.id || document.activeElement.getAttribute('aria-label')"
                    " || document.activeElement.textContent"
                )
            )
        assert order == [
            "amount",
            "Copy amount",
            "address",
            "Copy address",
            "open-wallet",
            "Deutsch",
        ]
        await page.keyboard.press("Shift+Tab")
        await page.keyboard.press("Shift+Tab")
        await page.keyboard.press("Enter")  # the copy button works from the keyboard
        await expect(page.get_by_role("button", name="Copy address")).to_have_text("Copied")

"""The checkout page of an invoice priced in fiat, in headless Chromium: the price first, the
option picker (asset and network), the chosen option's amount, address, QR and the quote's
countdown; after payment, what was paid and at which rate."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

from playwright.async_api import Browser, expect

from tests.checkout.browser import browser, decode_qr, shot
from tests.checkout.test_accessibility import SEVERE, axe
from tests.rates.invoicing import invoice_daemon
from xbtcpay.core.invoices import picked_extra
from xbtcpay.core.models import PaymentEvent
from xbtcpay.core.state import Event

__all__ = ["browser"]


async def test_the_customer_picks_an_option_and_sees_what_was_paid_at_which_rate(
    tmp_path: Path, browser: Browser
) -> None:
    async with invoice_daemon(tmp_path) as (d, _, _):
        reply = await d.call("start_payment", {"price": "19.99", "currency": "USD"})
        created = reply["result"]
        uris = {o["asset"]: o["payment_uri"] for o in created["options"]}
        page = await browser.new_page(viewport={"width": 480, "height": 1400})
        console: list[str] = []
        page.on("console", lambda m: console.append(m.text))
        await page.goto(created["checkout_url"])
        await expect(page.locator("h1")).to_have_text("Pay 19.99 USD")
        options = page.locator("nav.options a.option")
        await expect(options).to_have_count(3)
        await expect(options.nth(0)).to_have_attribute("aria-current", "true")
        await expect(options.nth(0)).to_contain_text("161.86234818 0XBTC")
        await expect(options.nth(1)).to_contain_text("19.99 USDC")
        await expect(options.nth(1)).to_contain_text("(1 USD per USDC)")
        await expect(page.get_by_label("Amount", exact=True)).to_have_value("161.86234818")
        await expect(page.get_by_label("Deposit address", exact=True)).to_have_value(
            created["address"]
        )
        await expect(page.locator(".countdown")).to_contain_text("Price locked for")
        await expect(page.locator("#countdown")).to_have_text(re.compile(r"^1[45]:\d\d$"))
        assert decode_qr(await shot(page, "invoice-open")) == [uris["0xbtc"]]
        assert [v for v in await axe(page) if v["impact"] in SEVERE] == []
        dark = await (await browser.new_context(color_scheme="dark")).new_page()
        await dark.goto(created["checkout_url"] + "?lang=de")
        await expect(dark.locator("nav.options a.option")).to_have_count(3)
        assert [v for v in await axe(dark) if v["impact"] in SEVERE] == []

        await options.nth(1).click()
        await expect(page.locator("nav.options a[aria-current]")).to_contain_text("USDC")
        await expect(page.get_by_label("Amount", exact=True)).to_have_value("19.99")
        await expect(page.get_by_label("Deposit address", exact=True)).to_have_value(
            created["address"]
        )
        href = await page.get_by_role("link", name="Open in wallet").get_attribute("href")
        assert href == uris["usdc"]
        assert decode_qr(await shot(page, "invoice-usdc")) == [uris["usdc"]]
        await expect(page.locator("#checkout")).to_have_attribute("data-transport", "sse")

        payment = await d.processor.get(created["id"])
        seen = PaymentEvent(
            Event.SEEN,
            asset="usdc",
            amount=Decimal("19.99"),
            amount_received=Decimal("19.99"),
            tx_hash="0x" + "ab" * 32,
            tx_block=5,
            extra=picked_extra(payment, "usdc", d.processor.now()),
        )
        await d.processor.apply(created["id"], seen)
        await d.processor.apply(
            created["id"], PaymentEvent(Event.PAID, amount_received=Decimal("19.99"))
        )
        await expect(page.locator("#status")).to_have_text("Paid")
        await expect(page.locator(".paid-option")).to_have_text(
            f"Paid with 19.99 USDC on {d.config.chain.name}, at 1 USD per USDC."
        )
        await expect(page.locator("nav.options")).to_have_count(0)
        assert console == []

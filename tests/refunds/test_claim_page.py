"""A full refund through the claim link, driven in headless Chromium: the customer sees the
amount, the network and the exchange warning, a mistyped address is refused, the address is
taken once, and the page follows the refund to its confirmation on anvil. Expired and
unknown links, over plain HTTP."""

from __future__ import annotations

from pathlib import Path

import aiohttp
from playwright.async_api import Browser

from tests.chain.watching import units
from tests.checkout.browser import browser, shot
from tests.fixtures.chain import DevChain
from tests.refunds.kit import (
    create,
    fund,
    paid,
    payout_wallet,
    refund_status,
    refunds_server,
    wallet_payouts,
)

CUSTOMER = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"  # EIP-55 test vector
MISTYPED = CUSTOMER[:-1] + "D"  # one letter's case changed: the checksum fails
__all__ = ["browser"]  # one letter's case changed: the checksum fails


async def test_a_full_refund_through_the_claim_link_in_chromium(
    tmp_path: Path, chain: DevChain, browser: Browser
) -> None:
    key = payout_wallet()
    async with refunds_server(tmp_path, chain, wallet_payouts(key)) as w:
        await fund(w, key.address)
        payment = await paid(w, "1.5")
        before = await chain.token_balance(CUSTOMER)
        refund = await create(w, payment=payment["id"], amount="1.5", reason="order canceled")
        page = await browser.new_page()
        await page.goto(refund["claim_url"])
        text = await page.inner_text("main")
        assert "1.5 0XBTC" in text and "order canceled" in text
        assert "exchange deposit address may not credit a refund" in await page.inner_text(
            "#exchange-warning"
        )
        await page.fill("#address", MISTYPED)
        await page.click("button[type=submit]")
        assert "checksum" in await page.inner_text("#error")
        assert await page.input_value("#address") == MISTYPED  # kept for correcting
        await page.fill("#address", CUSTOMER.lower())
        await page.click("button[type=submit]")
        assert "checksummed form" in await page.inner_text("#error")
        await page.fill("#address", CUSTOMER)
        await page.click("button[type=submit]")
        assert await page.inner_text("#refund-address") == CUSTOMER
        assert await page.get_attribute("#refund-progress", "data-status") == "requested"
        await shot(page, "refund-claimed")
        got = (await w.d.call("refund.get", {"refund": refund["id"]}))["result"]
        assert got["address"] == CUSTOMER and got["claimed_at"] is not None

        assert "result" in await w.d.call("refund.approve", {"refund": refund["id"]})
        await chain.mine(3)
        done = await refund_status(w, refund["id"], "confirmed")
        await page.reload()
        assert await page.get_attribute("#refund-progress", "data-status") == "confirmed"
        assert await page.inner_text("#refund-tx") == done["tx_hash"]
        await shot(page, "refund-confirmed")
        assert await chain.token_balance(CUSTOMER) - before == units("1.5")
        await w.until(payment["id"], "refunded")


async def test_a_claim_link_takes_one_address_and_expires(tmp_path: Path, chain: DevChain) -> None:
    async with refunds_server(tmp_path, chain) as w, aiohttp.ClientSession() as http:
        payment = await paid(w, "2")
        first = await create(w, payment=payment["id"], amount="1", reason="a")
        url = first["claim_url"]
        async with http.post(url, data={"address": CUSTOMER}, allow_redirects=False) as r:
            assert r.status == 303 and r.headers["Location"] == url.split(":", 2)[2][5:]
        other = "0x" + "ab" * 20
        async with http.post(url, data={"address": other}) as r:
            assert r.status == 400
            assert "no longer takes an address" in await r.text()
        got = (await w.d.call("refund.get", {"refund": first["id"]}))["result"]
        assert got["address"] == CUSTOMER
        async with http.get(url) as r:
            assert r.status == 200 and r.headers["Cache-Control"] == "private, no-store"
            assert r.headers["Referrer-Policy"] == "no-referrer"

        second = await create(w, payment=payment["id"], amount="1", reason="b")
        w.clock.advance(7 * 86400 + 1)  # refunds.claim_ttl's default
        async with http.get(second["claim_url"]) as r:
            assert "This link has expired" in await r.text()
        async with http.post(second["claim_url"], data={"address": CUSTOMER}) as r:
            assert r.status == 400
        got = (await w.d.call("refund.get", {"refund": second["id"]}))["result"]
        assert got["address"] is None

        for bad in (url[:-1], url + "x", url.rsplit("/", 1)[0] + "/" + "A" * 43):
            async with http.get(bad) as r:
                assert r.status == 404 and "unknown refund link" in await r.text()

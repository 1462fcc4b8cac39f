"""Debian's headless Chromium driven by Playwright, and a second loopback server as a shop.

Chromium comes from ``make browser`` (apt); Playwright never downloads a browser here. Each
test gets a fresh browser with its own temporary profile. Screenshots go to
var/screenshots/<engine> (the two passes of ``make test`` run side by side).
"""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import zxingcpp
from aiohttp import web
from PIL import Image
from playwright.async_api import Browser, Page, async_playwright

from tests import pg
from tests.harness import free_port

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "var" / "screenshots" / pg.engine()
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"


@asynccontextmanager
async def chromium(*extra: str) -> AsyncIterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: run `make browser` (Debian's chromium package)")
    async with async_playwright() as pw:
        launched = await pw.chromium.launch(
            executable_path=str(CHROMIUM), args=[*FLAGS, *extra], headless=True
        )
        try:
            yield launched
        finally:
            await launched.close()


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with chromium() as launched:
        yield launched


@pytest.fixture
async def browser_without_js() -> AsyncIterator[Browser]:
    """Scripting off in Blink itself, as a user who disabled JavaScript has it: unlike
    Playwright's per-context switch, the parser then renders <noscript> content."""
    async with chromium("--blink-settings=scriptEnabled=false") as launched:
        yield launched


async def shot(page: Page, name: str) -> bytes:
    """A full-page screenshot, kept as var/screenshots/<engine>/<name>.png."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    return await page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def decode_qr(png: bytes) -> list[str]:
    """Texts of the QR codes zxing-cpp finds in a PNG screenshot."""
    image = Image.open(io.BytesIO(png)).convert("L")
    return [
        code.text
        for code in zxingcpp.read_barcodes(image)
        if code.format == zxingcpp.BarcodeFormat.QRCode
    ]


@dataclass
class Shop:
    """A shop's page on another loopback origin that embeds the widget."""

    runner: web.AppRunner
    url: str


SHOP_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>Shop checkout</title></head><body><h1>Your order</h1>
<ul id="messages"></ul>
<script>
window.addEventListener("message", function (ev) {{
  if (ev.data && ev.data.type === "xbtcpay:paid") {{
    var li = document.createElement("li");
    li.textContent = "message " + ev.data.type + " " + ev.data.payment + " from " + ev.origin;
    document.getElementById("messages").appendChild(li);
  }}
}});
document.addEventListener("xbtcpay:paid", function (ev) {{
  var li = document.createElement("li");
  li.textContent = "event " + ev.detail.status;
  document.getElementById("messages").appendChild(li);
}});
</script>
<script src="{public}/widget.js" data-payment="{payment}"></script>
</body></html>"""


async def start_shop(public_url: str, payment_id: str) -> Shop:
    async def page(request: web.Request) -> web.Response:
        return web.Response(
            text=SHOP_PAGE.format(public=public_url, payment=payment_id), content_type="text/html"
        )

    app = web.Application()
    app.router.add_get("/", page)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return Shop(runner, f"http://localhost:{port}/")

"""axe-core (from npm) on the checkout page's states, light and dark: no serious or critical
violations (contrast, labels, names, landmarks, language)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from playwright.async_api import Browser, Page

from tests.checkout.browser import AXE, browser, shot
from tests.harness import running_daemon
from xbtcpay.core.models import PaymentEvent
from xbtcpay.core.state import Event

__all__ = ["browser"]
SEVERE = {"serious", "critical"}


async def axe(page: Page) -> list[dict[str, Any]]:
    """Run axe-core in the page (evaluated through the driver: the page's CSP still holds)."""
    if not AXE.exists():
        raise AssertionError(f"{AXE} is missing: run `make install` (axe-core from npm)")
    await page.evaluate(AXE.read_text() + "\n;0")
    result = await page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    return [
        {"id": v["id"], "impact": v["impact"], "nodes": [n["html"] for n in v["nodes"]]}
        for v in result["violations"]
    ]


async def test_no_serious_or_critical_violations_in_any_state(
    tmp_path: Path, browser: Browser
) -> None:
    async with running_daemon(tmp_path) as d:
        open_id = (await d.start_payment("1.5", fiat={"amount": "9.99", "currency": "USD"}))["id"]
        partial = (await d.start_payment("2"))["id"]
        await d.processor.apply(
            partial,
            PaymentEvent(
                Event.SEEN, amount_received=Decimal("0.5"), tx_hash="0x" + "56" * 32, tx_block=3
            ),
        )
        paid = (await d.start_payment("1", return_url="https://shop.example/"))["id"]
        await d.processor.apply(paid, PaymentEvent(Event.EXPIRED))
        await d.processor.apply(paid, PaymentEvent(Event.PAID, amount_received=Decimal(3)))
        expired = (await d.start_payment("1"))["id"]
        await d.processor.apply(expired, PaymentEvent(Event.EXPIRED))
        found: dict[str, list[dict[str, Any]]] = {}
        schemes: tuple[Literal["light", "dark"], ...] = ("light", "dark")
        for scheme in schemes:
            context = await browser.new_context(color_scheme=scheme)
            page = await context.new_page()
            for name, pid, query in (
                ("open", open_id, ""),
                ("partial", partial, "?lang=de"),
                ("paid", paid, "?lang=es"),
                ("expired", expired, ""),
            ):
                await page.goto(f"{d.public_url}/pay/{pid}{query}")
                await shot(page, f"axe-{name}-{scheme}")
                severe = [v for v in await axe(page) if v["impact"] in SEVERE]
                if severe:
                    found[f"{name}/{scheme}"] = severe
            await context.close()
        assert found == {}

"""The dashboard in Debian's headless Chromium (as tests/checkout drives it): what an
operator and a viewer do, the refusals, axe-core on every main page in light and dark at
320 px, the keyboard. The screenshots of docs/dashboard.md are taken here."""

from __future__ import annotations

import shutil
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from playwright.async_api import Browser, Page, expect

from tests import pg
from tests.admin.dashboard import PASSWORD, add_user
from tests.chain.watching import units, watching
from tests.checkout.browser import AXE, ROOT, SHOTS, browser, shot
from tests.fixtures.chain import DevChain
from tests.harness import DaemonHandle, PostbackReceiver, running_daemon, wait_until
from xbtcpay.core.models import PaymentEvent
from xbtcpay.core.state import Event

__all__ = ["browser"]
SEVERE = {"serious", "critical"}
DOCS_SHOTS = ROOT / "docs" / "dashboard"
# a postback on cancel and on paid that gives up after a second of failures
HOOKS = {"postback": {"max_age": 1, "events": ["paid", "canceled"]}}
MAIN_PAGES = (
    "/",
    "/payments",
    "/postbacks",
    "/customers?customer=cust-1",
    "/vouchers",
    "/refunds",
    "/funds",
    "/config",
    "/audit",
    "/keys",
    "/users",
)


async def login(page: Page, base: str, name: str, password: str = PASSWORD) -> None:
    await page.goto(f"{base}/admin/")
    await page.get_by_label("User name").fill(name)
    await page.get_by_label("Password").fill(password)
    await page.get_by_role("button", name="Log in").click()


async def doc_shot(page: Page, name: str) -> None:
    """A screenshot for docs/dashboard.md, taken by the SQLite pass (the PostgreSQL pass,
    running beside it, keeps its own in var/screenshots only)."""
    await shot(page, f"dashboard-{name}")
    if pg.on_postgresql():
        return
    DOCS_SHOTS.mkdir(parents=True, exist_ok=True)
    shutil.copy(SHOTS / f"dashboard-{name}.png", DOCS_SHOTS / f"{name}.png")


async def axe(page: Page) -> list[dict[str, Any]]:
    """axe-core in the page, evaluated through the driver (the page's CSP still holds)."""
    if not AXE.exists():
        raise AssertionError(f"{AXE} is missing: run `make install` (axe-core from npm)")
    await page.evaluate(AXE.read_text() + "\n;0")
    result = await page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    return [
        {"id": v["id"], "impact": v["impact"], "nodes": [n["html"] for n in v["nodes"]]}
        for v in result["violations"]
    ]


async def _paid_history(d: DaemonHandle) -> None:
    """A few paid payments for the overview's volumes and chart."""
    for amount in ("1.5", "2", "0.25"):
        pid = (await d.start_payment(amount))["id"]
        await d.processor.apply(
            pid,
            PaymentEvent(
                Event.PAID, amount_received=Decimal(amount), tx_hash="0x" + "ab" * 32, tx_block=7
            ),
        )


async def test_an_operator_finds_a_payment_by_order_id_and_redelivers_its_failed_postback(
    tmp_path: Path, browser: Browser
) -> None:
    hook = PostbackReceiver(fail_times=10**6)
    async with hook, running_daemon(tmp_path, HOOKS) as d:
        await add_user(d, "olga", "operator")
        await _paid_history(d)
        payment = await d.start_payment("3", order_id="ORDER-1001", postback_url=hook.url)
        assert "result" in await d.call("cancel_payment", {"id": payment["id"]})
        await wait_until(lambda: d.runtime.postbacks.search(status="failed"), timeout=15)

        page = await browser.new_page(viewport={"width": 1100, "height": 800})
        await page.goto(f"{d.rpc_url}/admin/login")
        await doc_shot(page, "login")
        await login(page, d.rpc_url, "olga")
        await page.get_by_role("heading", name="Overview").wait_for()
        await doc_shot(page, "overview")

        await page.get_by_role("link", name="Payments", exact=True).click()
        await page.get_by_label("Search").fill("ORDER-1001")
        await page.get_by_role("button", name="Search").click()
        await doc_shot(page, "payments")
        await page.get_by_role("link", name=payment["id"]).click()
        await page.get_by_role("heading", name=f"Payment {payment['id']}").wait_for()
        assert await page.locator("#payment-status").text_content() == "canceled"
        await doc_shot(page, "payment")

        hook.fail_times = 0  # the shop is back
        await page.get_by_role("button", name="Send again").first.click()
        await page.locator("p.note").wait_for()
        assert "queued" in (await page.locator("p.note").text_content() or "")
        received = await hook.wait_for(1)
        assert received[0]["json"]["id"] == payment["id"]

        await page.get_by_role("link", name="Audit log").click()
        row = page.get_by_role("row").filter(has_text="postback.redeliver")
        assert "olga" in (await row.text_content() or "")
        await doc_shot(page, "audit")


async def test_an_operator_creates_and_disables_a_voucher(tmp_path: Path, browser: Browser) -> None:
    async with running_daemon(tmp_path) as d:
        await add_user(d, "olga", "operator")
        page = await browser.new_page()
        page.on("dialog", lambda dialog: dialog.accept())
        await login(page, d.rpc_url, "olga")
        await page.get_by_role("link", name="Vouchers").click()
        await page.get_by_label("Code customers type").fill("WELCOME-5")
        await page.get_by_label("Grant", exact=True).fill("EUR:5.00")
        await page.get_by_label("Maximum uses").fill("100")
        await page.get_by_role("button", name="Create").click()
        row = page.get_by_role("row").filter(has_text="EUR")
        assert "active" in (await row.text_content() or "")
        await doc_shot(page, "vouchers")
        await row.get_by_role("button", name="Disable").click()
        await page.locator("p.note").wait_for()
        assert "disabled" in (
            await page.get_by_role("row").filter(has_text="EUR").text_content() or ""
        )
        (voucher,) = await d.runtime.media.vouchers.list(10)
        assert voucher.disabled and voucher.max_uses == 100


async def test_a_viewer_cannot_redeliver_and_a_change_without_the_token_is_refused(
    tmp_path: Path, browser: Browser
) -> None:
    hook = PostbackReceiver(fail_times=10**6)
    async with hook, running_daemon(tmp_path, HOOKS) as d:
        await add_user(d, "vic", "viewer")
        await add_user(d, "olga", "operator")
        payment = await d.start_payment(postback_url=hook.url)
        await d.call("cancel_payment", {"id": payment["id"]})
        (failed,) = await wait_until(lambda: d.runtime.postbacks.search(status="failed"))
        page = await browser.new_page()
        await login(page, d.rpc_url, "vic")
        await page.goto(f"{d.rpc_url}/admin/postbacks")
        assert await page.get_by_role("button", name="Send again").count() == 0
        token = await page.locator("input[name=csrf]").first.input_value()
        status = await page.evaluate(
            """async ([url, token]) => (await fetch(url, {method: 'POST',
                 body: new URLSearchParams({csrf: token})})).status""",
            [f"/admin/postbacks/{failed.id}/redeliver", token],
        )
        assert status == 403  # the role, not the token
        operator = await browser.new_page()
        await login(operator, d.rpc_url, "olga")
        status = await operator.evaluate(
            """async (url) => (await fetch(url, {method: 'POST',
                 body: new URLSearchParams({})})).status""",
            f"/admin/postbacks/{failed.id}/redeliver",
        )
        assert status == 403  # no CSRF token
        assert (await d.runtime.postbacks.get(failed.id)).status == "failed"
        assert hook.received == []


async def test_the_login_rate_limit_shows_and_holds(tmp_path: Path, browser: Browser) -> None:
    async with running_daemon(tmp_path, {"admin": {"login_max_failures": 3}}) as d:
        await add_user(d, "alice", "admin")
        page = await browser.new_page()
        for _ in range(3):
            await login(page, d.rpc_url, "alice", "not the password")
            assert "Wrong name or password" in (
                await page.get_by_role("alert").text_content() or ""
            )
        await login(page, d.rpc_url, "alice")
        assert "Too many failed logins" in (await page.get_by_role("alert").text_content() or "")
        assert page.url.endswith("/admin/login")


async def test_every_main_page_passes_axe_in_light_and_dark_at_320_px_and_by_keyboard(
    tmp_path: Path, browser: Browser
) -> None:
    hook = PostbackReceiver(fail_times=10**6)
    async with hook, running_daemon(tmp_path, HOOKS) as d:
        await add_user(d, "alice", "admin")
        await _paid_history(d)
        payment = await d.start_payment("1", order_id="ORDER-7", postback_url=hook.url)
        await d.call("cancel_payment", {"id": payment["id"]})
        await d.call("voucher.create", {"code": "AXE-1", "grants": {"product": "x"}})
        gift = {
            "currency": "EUR",
            "amount": "5.00",
            "reason": "gift",
            "idempotency_key": "gift-0001",
        }
        assert "result" in await d.call("balance.adjust", {"customer": "cust-1", **gift})
        found: dict[str, list[dict[str, Any]]] = {}
        schemes: tuple[Literal["light", "dark"], ...] = ("light", "dark")
        for scheme in schemes:
            context = await browser.new_context(
                color_scheme=scheme, viewport={"width": 320, "height": 640}
            )
            page = await context.new_page()
            await login(page, d.rpc_url, "alice")
            pages = [*MAIN_PAGES, f"/payments/{payment['id']}", "/?lang=de", "/payments?lang=es"]
            for path in pages:
                await page.goto(f"{d.rpc_url}/admin{path}")
                severe = [v for v in await axe(page) if v["impact"] in SEVERE]
                if severe:
                    found[f"{path}/{scheme}"] = severe
                width = await page.evaluate("document.documentElement.scrollWidth")
                assert width <= 320, (path, scheme, width)  # no sideways scrolling of the page
            await page.goto(f"{d.rpc_url}/admin/?lang=en")
            if scheme == "dark":
                await doc_shot(page, "overview-320-dark")
            await page.keyboard.press("Tab")
            focused = await page.evaluate("document.activeElement.textContent")
            assert focused == "Skip to content"
            await context.close()
        assert found == {}
        # the login page, signed out
        page = await browser.new_page()
        await page.goto(f"{d.rpc_url}/admin/login?lang=de")
        assert [v for v in await axe(page) if v["impact"] in SEVERE] == []
        assert await page.get_by_role("heading", name="Am Dashboard anmelden").count() == 1


async def test_a_payments_page_and_the_overview_follow_a_payment_paid_on_anvil(
    tmp_path: Path, chain: DevChain, browser: Browser
) -> None:
    async with watching(tmp_path, chain) as w:
        await add_user(w.d, "vic", "viewer")
        created = await w.pay_request("2", order_id="ORDER-LIVE")
        context = await browser.new_context()
        page = await context.new_page()
        await login(page, w.d.rpc_url, "vic")
        overview = await context.new_page()  # the same session
        await overview.goto(f"{w.d.rpc_url}/admin/")
        await expect(overview.locator("#open-count")).to_have_text("1")
        await page.goto(f"{w.d.rpc_url}/admin/payments/{created['id']}")
        await expect(page.locator("#payment-status")).to_have_text("new")
        await wait_until(lambda: len(live_of(w.d).streams) == 2)
        await chain.pay_tokens(created["address"], units("2"))
        await expect(page.locator("#payment-status")).to_have_text("seen", timeout=15_000)
        await chain.mine(3)
        await expect(page.locator("#payment-status")).to_have_text("paid", timeout=15_000)
        assert await page.evaluate("document.body.dataset.transport") == "sse"
        assert int(await page.evaluate("document.body.dataset.refreshes")) >= 2
        deposits = page.get_by_role("region", name="Deposits")
        assert str(units("2")) in (await deposits.text_content() or "")
        await expect(overview.locator("#open-count")).to_have_text("0", timeout=15_000)
        assert await overview.evaluate("document.body.dataset.transport") == "sse"


def live_of(d: DaemonHandle) -> Any:
    """The dashboard's live hub on the private port (what the root subscribed to the feed)."""
    for listener in d.runtime.feed.payment_listeners:
        owner = getattr(listener, "__self__", None)
        if owner is not None and type(owner).__name__ == "DashboardLive":
            return owner
    raise AssertionError("the dashboard does not follow the change feed")


async def test_an_operator_refunds_a_paid_payment_and_approves_it(
    tmp_path: Path, chain: DevChain, browser: Browser
) -> None:
    from tests.refunds.kit import (
        fund,
        paid,
        payout_wallet,
        refund_status,
        refunds_server,
        wallet_payouts,
    )

    customer = "0x52908400098527886E0F7030069857D2E4169EE7"
    key = payout_wallet()
    async with refunds_server(tmp_path, chain, wallet_payouts(key)) as w:
        await fund(w, key.address)
        payment = await paid(w, "2")
        await add_user(w.d, "olga", "operator")
        before = await chain.token_balance(customer)
        page = await browser.new_page()
        page.on("dialog", lambda dialog: dialog.accept())
        await login(page, w.d.rpc_url, "olga")
        await page.goto(f"{w.d.rpc_url}/admin/payments/{payment['id']}")
        form = page.locator("#refund-form")
        await form.get_by_label("Amount").fill("0.75")
        await form.get_by_label("Address").fill(customer)
        await form.get_by_label("Reason").fill("order canceled")
        assert [v for v in await axe(page) if v["impact"] in SEVERE] == []
        await form.get_by_role("button", name="Refund this payment").click()
        await page.locator("p.note").wait_for()
        row = page.locator("#refunds-table tbody tr").first
        assert "requested" in (await row.text_content() or "")
        await page.get_by_role("link", name="Refunds").click()
        await expect(page.locator("#refunds-table")).to_contain_text("0.75")
        assert [v for v in await axe(page) if v["impact"] in SEVERE] == []
        await doc_shot(page, "refunds")
        await page.locator("#refunds-table").get_by_role("button", name="Approve").first.click()
        await page.locator("p.note").wait_for()
        (refund,) = (await w.d.call("refund.list", {"payment": payment["id"]}))["result"]["refunds"]
        await chain.mine(3)
        await refund_status(w, refund["id"], "confirmed", timeout=60)
        assert await chain.token_balance(customer) - before == units("0.75")
        await page.reload()
        await expect(page.locator("#refunds-table")).to_contain_text("confirmed")

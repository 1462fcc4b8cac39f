"""Refunds from the dashboard, on anvil: an operator refunds a paid payment from its page,
approves the refund on the Refunds page and the payout wallet sends it; a claim-link refund
is canceled; a refund over the payout limit is refused at approval with its reason and sends nothing;
a viewer can neither refund nor approve. Every change is in the audit log."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote

from tests.admin.dashboard import add_user, browser
from tests.chain.watching import units
from tests.fixtures.chain import DevChain
from tests.refunds.kit import (
    fund,
    paid,
    payout_wallet,
    refund_status,
    refunds_server,
    wallet_payouts,
)
from xbtcpay.storage.admin_audit import AuditLog

CUSTOMER = "0x52908400098527886E0F7030069857D2E4169EE7"


async def _refunds(w: object, payment_id: str) -> list[dict[str, object]]:
    reply = await w.d.call("refund.list", {"payment": payment_id})  # type: ignore[attr-defined]
    refunds: list[dict[str, object]] = reply["result"]["refunds"]
    return refunds


async def test_an_operator_refunds_approves_and_cancels_from_the_dashboard(
    tmp_path: Path, chain: DevChain
) -> None:
    key = payout_wallet()
    async with refunds_server(tmp_path, chain, wallet_payouts(key, per_refund="2")) as w:
        await fund(w, key.address)
        payment = await paid(w, "3")
        await add_user(w.d, "olga", "operator")
        await add_user(w.d, "vic", "viewer")
        page_of = f"/admin/payments/{payment['id']}"
        before = await chain.token_balance(CUSTOMER)
        async with browser(w.d) as viewer:
            await viewer.login("vic")
            _, page = await viewer.get(page_of)
            assert 'id="refund-form"' not in page
            form = {"amount": "1", "address": CUSTOMER, "reason": "order canceled"}
            status, _, _ = await viewer.post(f"{page_of}/refund", form)
            assert status == 403
        assert await _refunds(w, payment["id"]) == []
        async with browser(w.d) as b:
            await b.login("olga")
            _, page = await b.get(page_of)
            assert 'id="refund-form"' in page
            over = {"amount": "2.5", "address": CUSTOMER, "reason": "too much"}
            status, _, location = await b.post(f"{page_of}/refund", over)
            assert status == 303 and location.endswith("note=refund_created")
            [big] = await _refunds(w, payment["id"])
            status, _, location = await b.post(f"/admin/refunds/{big['id']}/approve")
            assert status == 303 and "note=" in location and not location.endswith("approved")
            assert "max_per_refund" in unquote(location)  # the limit's reason, shown
            [big] = await _refunds(w, payment["id"])
            assert big["status"] == "requested"  # nothing sent
            status, _, location = await b.post(f"/admin/refunds/{big['id']}/cancel")
            assert status == 303 and location.endswith("note=refund_canceled")
            status, _, location = await b.post(f"{page_of}/refund", form)
            assert status == 303 and location.endswith("note=refund_created")
            [refund] = [r for r in await _refunds(w, payment["id"]) if r["id"] != big["id"]]
            assert refund["status"] == "requested" and refund["amount"] == "1.0"
            _, listed = await b.get("/admin/refunds?status=requested")
            assert f'data-refund="{refund["id"]}"' in listed
            status, _, location = await b.post(f"/admin/refunds/{refund['id']}/approve")
            assert status == 303 and location.endswith("note=approved")
            await chain.mine(3)
            await refund_status(w, str(refund["id"]), "confirmed", timeout=60)
            assert await chain.token_balance(CUSTOMER) - before == units("1")
            # a second refund by claim link, canceled before the customer claims it
            status, _, _ = await b.post(f"{page_of}/refund", {"amount": "0.5", "reason": "x"})
            assert status == 303
            claim = next(
                r
                for r in await _refunds(w, payment["id"])
                if r["id"] not in (refund["id"], big["id"])
            )
            assert claim["address"] is None
            _, page = await b.get(page_of)
            assert f"/admin/refunds/{claim['id']}/approve" not in page  # no address yet
            status, _, location = await b.post(f"/admin/refunds/{claim['id']}/cancel")
            assert status == 303 and location.endswith("note=refund_canceled")
            assert (await w.d.call("refund.get", {"refund": claim["id"]}))["result"][
                "status"
            ] == "canceled"
            _, shown = await b.get("/admin/config")
            assert "wallet_key" in shown and key.key.hex().removeprefix("0x") not in shown
        actions = [(e.actor, e.action) for e in await AuditLog(w.d.runtime.db).recent(50)]
        for action in ("refund.create", "refund.approve", "refund.cancel"):
            assert ("olga", action) in actions
        assert not any(actor == "vic" and a.startswith("refund") for actor, a in actions)

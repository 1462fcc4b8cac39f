"""A nexx frontend and a nexx-style shop backend, written from nexx's payment endpoint page
(tests/clients/nexx_frontend.py), against xbtcpay with only their base URL changed: every
operation's success path and its refusals, on the public port (session in X-Request-CID)
and the private port (the shop names ``customer``)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from tests.clients.nexx_frontend import NexxAnswer, NexxPaymentClient
from tests.commerce.media import Clock, media_daemon, ok
from tests.commerce.setup import SESSION_SECRET, session
from tests.commerce.test_appstore_subscriptions import (
    BASIC_ID,
    BUNDLE_ID,
    SUBSCRIPTION,
    appstore_config,
)
from tests.fakes.apple import AppleChain, AppleSigner

SESSIONS = {"sessions": {"secret": SESSION_SECRET, "algorithms": ["HS256"]}}
DAY = 86400
METADATA = {
    "status",
    "apiversion",
    "verb",
    "processingtime",
    "calledwith",
    "calledfor",
    "fordomain",
    "fromstage",
    "notice",
}


@pytest.fixture
async def d(tmp_path: Path) -> Any:
    async with media_daemon(tmp_path, Clock(time.time()), SESSIONS) as handle:
        yield handle


def frontend(d: Any, customer: str, domain_id: str | None = None) -> NexxPaymentClient:
    return NexxPaymentClient(
        d.session, base_url=d.public_url, cid=session(customer), domain_id=domain_id
    )


def backend(d: Any, customer: str) -> NexxPaymentClient:
    return NexxPaymentClient(d.session, base_url=d.rpc_url, extra={"customer": customer})


def refused(answer: NexxAnswer, status: int, hint: str = "") -> None:
    assert answer.http_status == answer.metadata["status"] == status, answer
    assert answer.result is None and hint in answer.metadata["errorhint"], answer


@pytest.mark.parametrize("domain_id", [None, "1234"])
async def test_a_frontend_buys_watches_and_cancels_with_form_calls(
    d: Any, domain_id: str | None
) -> None:
    app = frontend(d, "alice", domain_id)
    state = await app.itemstate(42)
    assert state.ok and state.result["access"] is False
    assert set(state.metadata) == METADATA and state.metadata["apiversion"] == "3.1"
    assert state.metadata["verb"] == "POST" and state.metadata["fordomain"] == (domain_id or "")
    assert state.metadata["calledwith"].endswith("/payment/itemstate")
    prepared = await app.preparetransaction(
        operation="subscription",
        amount=499,
        currency="EUR",
        provider="stripe",
        paymentType="creditcard",
        subscriptionDuration=1,
        subscriptionIsPremium=False,
        subscriptionWillRenew=True,
        subscriptionCanRenew=True,
        subscriptionWillBePayedMonthly=True,
        capturePaymentOn=int(time.time()) + 7 * DAY,
    )
    assert prepared.ok, prepared
    tx = prepared.result["transactionID"]
    shop = backend(d, "alice")
    finished = await shop.finishtransaction(
        transactionID=tx,
        reference="pi_1",
        token="tok",
        paymentType="creditcard",
        finalPayment=499,
        isLatePremium=False,
    )
    assert finished.ok and finished.result["state"] == "finished", finished
    state = await app.itemstate(42, perform=True)
    assert state.result["access"] is True and state.result["reason"] == "subscription"
    canceled = await app.cancelsubscription(tx, skip_email=True, reason_text="too dear, sorry")
    assert canceled.ok and canceled.metadata["verb"] == "DELETE", canceled
    assert canceled.result["subscription"]["will_renew"] is False
    assert canceled.result["emailSkipped"] is True


async def test_a_frontend_redeems_a_voucher(d: Any) -> None:
    await ok(d, "voucher.create", {"code": "FREE-STUFF", "grants": {"product": "movie42"}})
    await ok(d, "voucher.create", {"reference": "ext-9", "grants": {"product": "rent42"}})
    app = frontend(d, "bob")
    got = await app.redeemvoucher(vouchercode="free-stuff")
    assert got.ok and got.result["redeemed"] is True
    assert (await app.redeemvoucher(referencecode="ext-9")).ok
    refused(await app.redeemvoucher(vouchercode="x", referencecode="y"), 400, "exactly one")
    wrong = await app.redeemvoucher(vouchercode="NOT-A-CODE")
    assert wrong.http_status == wrong.metadata["status"] >= 400 and wrong.result is None
    assert (await app.itemstate(42)).result["access"] is True


async def test_the_shops_backend_adds_upgrades_and_deletes_with_form_calls(d: Any) -> None:
    shop = backend(d, "carol")
    until = int(time.time()) + 10 * DAY
    added = await shop.addexternalsubscription(until, False)
    assert added.ok and added.result["subscription"]["valid_until"] == until, added
    up = await shop.upgradesubscription("pay_upgrade_1", 500)
    assert up.ok and up.result["subscription"]["premium"] is True
    refused(await shop.upgradesubscription("pay_upgrade_2", 500), 409, "premium already")
    tx = added.result["transactionID"]
    refused(await shop.cancelsubscription(tx, cancel_transaction=True), 409, "payment failed")
    gone = await shop.cancelsubscription(tx, skip_email=True)
    assert gone.ok and gone.result["canceled"] is True, gone
    assert gone.result["subscription"]["state"] == "canceled"
    state = await frontend(d, "carol").itemstate(42)
    assert state.result["access"] is True  # until validUntil


async def test_refusals_in_nexx_shape(d: Any) -> None:
    app = frontend(d, "dave")
    anonymous = NexxPaymentClient(d.session, base_url=d.public_url)
    refused(await anonymous.itemstate(42), 401, "missing session")
    refused(await NexxPaymentClient(d.session, base_url=d.public_url, cid="nope").itemstate(1), 401)
    for operation in ("finishtransaction", "addexternalsubscription", "upgradesubscription"):
        refused(await app._post(operation, {"transactionID": 1}), 403)  # the shop's word only
    refused(await app.preparetransaction(operation="rent"), 400, "operation must be one of")
    refused(
        await app.preparetransaction(
            operation="subscription", amount="4.99", currency="EUR", provider="stripe"
        ),
        400,
        "amount must be an integer",
    )
    refused(
        await app.preparetransaction(
            operation="subscription",
            amount=499,
            currency="EUR",
            provider="stripe",
            subscriptionDuration="twelve",
        ),
        400,
        "subscriptionDuration",
    )
    refused(await app.cancelsubscription(99999), 404)
    refused(await app._post("cancelsubscription", {"transactionID": 1}), 405, "takes DELETE")
    async with d.session.delete(app.url("itemstate"), headers=app.headers("x")) as resp:
        body = await resp.json()
        assert resp.status == 405 and resp.headers["Allow"] == "POST"
        assert body["metadata"]["status"] == 405 and body["result"] is None
    refused(await app._post("nosuchthing", {}), 404, "unknown operation")
    async with d.session.post(d.public_url + "/v3.1/abc/payment/itemstate") as resp:
        assert resp.status == 404 and (await resp.json())["metadata"]["status"] == 404
    shop = backend(d, "dave")
    refused(await NexxPaymentClient(d.session, base_url=d.rpc_url).itemstate(42), 400, "customer")
    refused(await shop.addexternalsubscription(1_000_000_000, False), 400, "in the future")
    refused(await shop.finishtransaction(transactionID=424242), 404)


async def test_query_json_and_conflicting_parameters(d: Any) -> None:
    app = frontend(d, "erin")
    headers = {"X-Request-CID": session("erin")}
    async with d.session.post(
        app.url("itemstate") + "?item=42&performTransactionIfPossible=1", headers=headers
    ) as resp:
        assert resp.status == 200 and (await resp.json())["result"]["access"] is False
    async with d.session.post(app.url("itemstate"), json={"item": 42}, headers=headers) as resp:
        assert resp.status == 200
    async with d.session.post(
        app.url("itemstate") + "?item=41", data={"item": "42"}, headers=headers
    ) as resp:
        body = await resp.json()
        assert resp.status == 400 and "given twice" in body["metadata"]["errorhint"]
    async with d.session.post(
        app.url("itemstate"), data=b"{not json", headers={**headers, "Content-Type": "text/plain"}
    ) as resp:
        assert resp.status == 400 and (await resp.json())["metadata"]["status"] == 400
    for bad in ("\u00b2", "\u0661\u0662"):  # digits only in Unicode's eyes
        async with d.session.post(
            app.url("preparetransaction"),
            data={
                "operation": "ppv",
                "item": "42",
                "amount": bad,
                "currency": "EUR",
                "provider": "stripe",
            },
            headers=headers,
        ) as resp:
            assert resp.status == 400, await resp.text()
    other = session("frank")
    async with d.session.post(
        app.url("itemstate"), data={"item": "42"}, headers={**headers, "X-Session-Id": other}
    ) as resp:
        assert resp.status == 401  # two sessions in one request


async def test_the_private_port_takes_form_calls_but_not_from_browsers(d: Any) -> None:
    shop = backend(d, "gina")
    async with d.session.post(
        shop.url("itemstate"),
        data={"customer": "gina", "item": "42"},
        headers={"Origin": "https://evil.example"},
    ) as resp:
        assert resp.status == 403  # a browser's cross-site form post
    async with d.session.post(
        d.rpc_url + "/api/v0/rpc/payment.itemstate", data={"customer": "gina", "item": "42"}
    ) as resp:
        assert resp.status == 415  # the native transports stay JSON only
    assert (await shop.itemstate(42)).ok


async def test_cors_lets_a_browser_frontend_send_the_nexx_headers(d: Any) -> None:
    async with d.session.options(
        frontend(d, "x").url("cancelsubscription"),
        headers={
            "Origin": "https://app.example",
            "Access-Control-Request-Method": "DELETE",
            "Access-Control-Request-Headers": "X-Request-CID, X-Request-Token",
        },
    ) as resp:
        assert resp.status == 204
        assert "DELETE" in resp.headers["Access-Control-Allow-Methods"]
        allowed = resp.headers["Access-Control-Allow-Headers"].lower()
        assert "x-request-cid" in allowed and "x-request-token" in allowed


async def test_a_frontend_verifies_an_app_store_purchase(tmp_path: Path) -> None:
    chain = AppleChain.mint()
    signer = AppleSigner(chain, bundle_id=BUNDLE_ID, environment="Sandbox")
    overrides = {**appstore_config(tmp_path, chain), **SESSIONS}
    async with media_daemon(tmp_path, Clock(time.time()), overrides) as d:
        expires = int(time.time() * 1000) + 30 * DAY * 1000
        jws, _ = signer.transaction(
            BASIC_ID, type=SUBSCRIPTION, expiresDate=expires, price=4990, currency="EUR"
        )
        app = frontend(d, "hank")
        verify = {
            "operation": "subscription",
            "provider": "io",
            "amount": 499,
            "currency": "EUR",
            "amount_original": 499,
            "isPremium": False,
            "receipt": jws,
        }
        first = await app.verifyinapptransaction(**verify)
        assert first.ok and first.result["valid_until"] == expires // 1000, first
        again = await app.verifyinapptransaction(**verify)
        assert again.ok and again.result["duplicate"] is True
        refused(await frontend(d, "ivan").verifyinapptransaction(**verify), 409, "another customer")
        refused(await app.verifyinapptransaction(**{**verify, "provider": "xx"}), 400, "io, go, am")
        assert (await app.itemstate(42)).result["access"] is True


FORM_JUNK = ["", "0", "-1", "1.5", "\u00b2", "x" * 3000, "true", "null", "[]", "{}", "\u0000"]


async def test_no_form_value_is_an_internal_error(d: Any) -> None:
    """Every documented parameter of every operation, as text junk a form may carry, on both
    ports: a precise refusal or a success, never a 500."""
    params = {
        "itemstate": ["item", "streamtype", "performTransactionIfPossible"],
        "redeemvoucher": ["vouchercode", "referencecode"],
        "preparetransaction": [
            "operation",
            "item",
            "amount",
            "currency",
            "provider",
            "subscriptionDuration",
            "subscriptionIsPremium",
            "capturePaymentOn",
        ],
        "finishtransaction": ["transactionID", "finalPayment", "isLatePremium"],
        "verifyinapptransaction": ["operation", "provider", "amount", "isPremium", "receipt"],
        "addexternalsubscription": ["validUntil", "isPremium"],
        "upgradesubscription": ["transactionID", "amount"],
        "cancelsubscription": ["transactionID", "cancelTransaction", "skipEmail", "reasonText"],
    }
    clients = (frontend(d, "junk"), backend(d, "junk"))
    seen: set[int] = set()
    for operation, names in params.items():
        for name in names:
            for junk in FORM_JUNK:
                for client in clients:
                    if operation == "cancelsubscription":
                        async with d.session.delete(
                            client.url(operation),
                            params={**client.extra, name: junk},
                            headers=client.headers(operation),
                        ) as resp:
                            status = resp.status
                    else:
                        answer = await client._post(operation, {name: junk})
                        status = answer.http_status
                        assert answer.metadata["status"] == status
                    assert status < 500, (operation, name, junk, status)
                    seen.add(status)
    assert 400 in seen and 403 in seen
    async with d.session.get(d.public_url + "/healthz") as health:
        assert health.status == 200

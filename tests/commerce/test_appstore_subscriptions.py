"""A subscription bought through the App Store (the real plugin, StoreKit 2 transactions and
Server Notifications V2 signed by a test chain): verifyinapptransaction io, renewal,
upgrade, cancel at period end (store-managed), refund, expiry, with itemstate at each step.
Also the go / am answers."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from tests.commerce.media import Clock, app_call, media_daemon, ok, refused
from tests.commerce.setup import SESSION_SECRET, session
from tests.fakes.apple import AppleChain, AppleSigner
from tests.harness import deep_merge

BUNDLE_ID = "com.example.media"
BASIC_ID = "com.example.media.basic.monthly"
RENT_ID = "com.example.media.rent42"
SUBSCRIPTION = "Auto-Renewable Subscription"
DAY = 86400
C = {"customer": "apple-user"}


@pytest.fixture
def chain() -> AppleChain:
    return AppleChain.mint()


@pytest.fixture
def signer(chain: AppleChain) -> AppleSigner:
    return AppleSigner(chain, bundle_id=BUNDLE_ID, environment="Sandbox")


def appstore_config(tmp_path: Path, chain: AppleChain) -> dict[str, Any]:
    root = tmp_path / "root.pem"
    root.write_bytes(chain.root_pem)
    return {
        "plugins": {
            "appstore": {
                "bundle_id": BUNDLE_ID,
                "environment": "sandbox",
                "root_certificates": [str(root)],
                "products": ["basic", "rent42"],
            }
        },
        "products": {
            "basic": {"appstore_product_id": BASIC_ID},
            "rent42": {"appstore_product_id": RENT_ID},
        },
    }


async def notify(d: Any, signed: str) -> None:
    async with d.session.post(
        d.public_url + "/webhooks/appstore", json={"signedPayload": signed}
    ) as resp:
        assert resp.status == 200


async def item(d: Any) -> dict[str, Any]:
    return dict(await ok(d, "payment.itemstate", {**C, "item": 42}))


async def test_appstore_subscription_lifecycle(
    tmp_path: Path, chain: AppleChain, signer: AppleSigner
) -> None:
    clock = Clock(time.time())
    async with media_daemon(tmp_path, clock, appstore_config(tmp_path, chain)) as d:
        expires = int(clock.now * 1000) + 30 * DAY * 1000
        jws, tx = signer.transaction(
            BASIC_ID, type=SUBSCRIPTION, expiresDate=expires, price=4990, currency="EUR"
        )
        verify = {
            **C,
            "operation": "subscription",
            "provider": "io",
            "amount": 499,
            "currency": "EUR",
            "amount_original": 499,
            "isPremium": 0,
            "receipt": jws,
        }
        first = await ok(d, "payment.verifyinapptransaction", verify)
        assert first["duplicate"] is False and first["valid_until"] == expires // 1000
        again = await ok(d, "payment.verifyinapptransaction", verify, "ws")
        assert again["duplicate"] is True and again["transactionID"] == first["transactionID"]
        stolen = await refused(
            d, "payment.verifyinapptransaction", {**verify, "customer": "someone-else"}
        )
        assert stolen["code"] == -32009 and "another customer" in stolen["message"]
        state = await item(d)
        assert state["access"] and state["valid_until"] == expires // 1000

        renewal = {
            **tx,
            "transactionId": signer.next_id(),
            "transactionReason": "RENEWAL",
            "expiresDate": expires + 30 * DAY * 1000,
        }
        signed, _ = signer.notification("DID_RENEW", renewal)
        await notify(d, signed)
        await notify(d, signed)  # delivered twice
        assert await d.runtime.media.bridge.run_once() == 1
        assert await d.runtime.media.bridge.run_once() == 0
        assert (await item(d))["valid_until"] == (expires // 1000) + 30 * DAY
        sub_id = first["subscription"]
        history = await d.runtime.media.subscriptions.history(sub_id)
        assert [(p["kind"], p["amount_minor"], p["currency"]) for p in history["payments"]] == [
            ("initial", 499, "EUR"),
            ("renewal", 499, "EUR"),
        ]

        up = await ok(
            d,
            "payment.upgradesubscription",
            {**C, "transactionID": "apple-up-1", "amount": 500, "currency": "EUR"},
        )
        assert up["subscription"]["product"] == "premium"
        canceled = await ok(
            d,
            "payment.cancelsubscription",
            {**C, "transactionID": first["transactionID"], "cancelTransaction": 0},
        )
        assert canceled["provider"] == "store_managed"
        assert (await item(d))["access"]  # until valid_until

        refunded = {**renewal, "revocationDate": int(clock.now * 1000), "revocationReason": 1}
        signed, _ = signer.notification("REFUND", refunded)
        await notify(d, signed)
        assert await d.runtime.media.bridge.run_once() == 1
        state = await item(d)
        assert state["access"] is False and state["reason"] == "expired"
        sub = await d.runtime.media.subscriptions.get(sub_id)
        assert sub.state.value == "terminated"


async def test_appstore_expired_notification_expires_the_subscription(
    tmp_path: Path, chain: AppleChain, signer: AppleSigner
) -> None:
    clock = Clock(time.time())
    async with media_daemon(tmp_path, clock, appstore_config(tmp_path, chain)) as d:
        expires = int(clock.now * 1000) + 30 * DAY * 1000
        jws, tx = signer.transaction(
            BASIC_ID, type=SUBSCRIPTION, expiresDate=expires, price=4990, currency="EUR"
        )
        await ok(
            d,
            "payment.verifyinapptransaction",
            {**C, "operation": "subscription", "provider": "io", "receipt": jws},
        )
        signed, _ = signer.notification("EXPIRED", tx, subtype="VOLUNTARY")
        await notify(d, signed)
        assert await d.runtime.media.bridge.run_once() == 1
        subs = await d.runtime.media.subscriptions.for_customer("apple-user")
        assert [s.state.value for s in subs] == ["expired"]


async def test_appstore_ppv_and_refusals(
    tmp_path: Path, chain: AppleChain, signer: AppleSigner
) -> None:
    clock = Clock(time.time())
    async with media_daemon(tmp_path, clock, appstore_config(tmp_path, chain)) as d:
        jws, _ = signer.transaction(RENT_ID, price=1990, currency="EUR")
        done = await ok(
            d,
            "payment.verifyinapptransaction",
            {**C, "operation": "ppv", "item": 42, "provider": "io", "receipt": jws},
            "http",
        )
        assert done["duplicate"] is False
        assert (await item(d))["reason"] == "ppv"
        err = await refused(
            d,
            "payment.verifyinapptransaction",
            {
                **C,
                "operation": "subscription",
                "provider": "io",
                "receipt": signer.transaction(RENT_ID)[0],
            },
        )
        assert "not a subscription product" in err["message"]
        forged, _ = signer.transaction(RENT_ID, wrong_key=True)
        err = await refused(
            d,
            "payment.verifyinapptransaction",
            {**C, "operation": "ppv", "provider": "io", "receipt": forged},
        )
        assert err["code"] == -32602 and "receipt refused" in err["message"]
        rows = await d.runtime.db.fetchall("SELECT * FROM commerce_transactions")
        assert len(rows) == 1


@pytest.mark.parametrize("transport", ["jsonrpc", "http", "ws"])
async def test_go_without_the_plugin_and_am(tmp_path: Path, transport: str) -> None:
    async with media_daemon(tmp_path, Clock()) as d:
        base = {**C, "operation": "ppv", "item": 42, "receipt": "x"}
        err = await refused(
            d, "payment.verifyinapptransaction", {**base, "provider": "am"}, transport
        )
        assert err["code"] == -32022 and "not supported" in err["message"]
        err = await refused(
            d, "payment.verifyinapptransaction", {**base, "provider": "go"}, transport
        )
        assert err["code"] == -32021 and "googleplay plugin is not enabled" in err["message"]
        err = await refused(
            d, "payment.verifyinapptransaction", {**base, "provider": "io"}, transport
        )
        assert err["code"] == -32021 and "appstore plugin is not enabled" in err["message"]


SESSIONS = {"sessions": {"secret": SESSION_SECRET, "algorithms": ["HS256"]}}


def plant_transaction(customer: str, sub_id: str) -> Callable[[Any], Awaitable[int]]:
    """A finished transaction of ``customer`` pointing at ``sub_id``, written directly."""

    async def op(conn: Any) -> int:
        now = int(time.time())
        row = await conn.fetchone(
            "INSERT INTO commerce_transactions (customer, operation, product, provider,"
            " reference, amount_minor, currency, final_minor, state, subscription_id,"
            " created_at, expires_at, finished_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)"
            " RETURNING id",
            (
                customer,
                "subscription",
                "basic",
                "io",
                "planted",
                499,
                "EUR",
                499,
                "finished",
                sub_id,
                now,
                now,
                now,
            ),
        )
        return int(row["id"])

    return op


async def test_a_renewal_of_another_customers_subscription_is_refused(
    tmp_path: Path, chain: AppleChain, signer: AppleSigner
) -> None:
    """Bob presents a renewal (new transactionId, Alice's originalTransactionId): refused,
    and he cannot cancel Alice's subscription; her subscription and payments are untouched."""
    clock = Clock(time.time())
    config = deep_merge(appstore_config(tmp_path, chain), SESSIONS)
    async with media_daemon(tmp_path, clock, config) as d:
        alice, bob = session("alice"), session("bob")
        expires = int(clock.now * 1000) + 30 * DAY * 1000
        jws, tx = signer.transaction(
            BASIC_ID, type=SUBSCRIPTION, expiresDate=expires, price=4990, currency="EUR"
        )
        verify = {
            "operation": "subscription",
            "provider": "io",
            "amount": 499,
            "currency": "EUR",
            "receipt": jws,
        }
        status, body = await app_call(d, "payment.verifyinapptransaction", verify, alice)
        assert status == 200, body
        mine = body["data"]
        renewal = signer.sign(
            {
                **tx,
                "transactionId": signer.next_id(),
                "transactionReason": "RENEWAL",
                "expiresDate": expires + 30 * DAY * 1000,
            }
        )
        status, body = await app_call(
            d, "payment.verifyinapptransaction", {**verify, "receipt": renewal}, bob
        )
        assert status == 409, body
        assert body["error"]["code"] == -32009 and "another customer" in body["error"]["message"]
        status, body = await app_call(
            d,
            "payment.cancelsubscription",
            {"transactionID": mine["transactionID"], "immediately": 1},
            bob,
        )
        assert status == 404, body
        sub = await d.runtime.media.subscriptions.get(mine["subscription"])
        assert sub is not None and sub.customer == "alice" and sub.state.value == "active"
        assert await d.runtime.payments.count_by_status() == {"paid": 1}
        rows = await d.runtime.db.fetchall("SELECT customer FROM commerce_transactions")
        assert [r["customer"] for r in rows] == ["alice"]
        _, body = await app_call(d, "payment.itemstate", {"item": 42}, alice)
        assert body["data"]["access"] is True
        _, body = await app_call(d, "payment.itemstate", {"item": 42}, bob)
        assert body["data"]["access"] is False
        # a link left by the code before this rule: Bob's transaction on Alice's subscription
        planted = await d.runtime.db.transact(plant_transaction("bob", mine["subscription"]))
        status, body = await app_call(
            d, "payment.cancelsubscription", {"transactionID": planted, "immediately": 1}, bob
        )
        assert status == 404, body
        sub = await d.runtime.media.subscriptions.get(mine["subscription"])
        assert sub is not None and sub.state.value == "active"
        # the owner's own renewal still lands on her subscription
        status, body = await app_call(
            d, "payment.verifyinapptransaction", {**verify, "receipt": renewal}, alice
        )
        assert status == 200 and body["data"]["subscription"] == mine["subscription"], body


async def test_is_premium_does_not_make_a_basic_store_subscription_premium(
    tmp_path: Path, chain: AppleChain, signer: AppleSigner
) -> None:
    clock = Clock(time.time())
    config = deep_merge(appstore_config(tmp_path, chain), SESSIONS)
    async with media_daemon(tmp_path, clock, config) as d:
        jws, _ = signer.transaction(
            BASIC_ID,
            type=SUBSCRIPTION,
            expiresDate=int(clock.now * 1000) + 30 * DAY * 1000,
            price=4990,
            currency="EUR",
        )
        status, body = await app_call(
            d,
            "payment.verifyinapptransaction",
            {
                "operation": "subscription",
                "provider": "io",
                "amount": 499,
                "currency": "EUR",
                "isPremium": 1,
                "receipt": jws,
            },
            session("alice"),
        )
        assert status == 200, body
        sub = await d.runtime.media.subscriptions.get(body["data"]["subscription"])
        assert sub is not None and sub.product == "basic" and sub.premium is False

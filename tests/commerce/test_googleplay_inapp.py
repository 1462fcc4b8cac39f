"""payment.verifyinapptransaction with provider go: the Google Play plugin (Google's own client
against the fake Play API) verifies the purchase, the commerce layer grants once per store
transaction, and itemstate answers from it."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from tests.commerce.media import Clock, app_call, media_daemon, ok, refused
from tests.commerce.setup import SESSION_SECRET, session
from tests.harness import deep_merge
from tests.plugins.drivers.googleplay import plugin_settings
from tests.plugins.googleplay_kit import fake_play, push, sub_note

C = {"customer": "android-user"}
MOVIE_ID, PREMIUM_ID = "com.example.media.movie42", "com.example.media.premium.monthly"


def play_config(play: Any, tmp_path: Path) -> dict[str, Any]:
    return {
        "plugins": {"googleplay": plugin_settings(play, tmp_path)},
        "products": {
            "movie42": {"googleplay_product_id": MOVIE_ID},
            "premium": {"googleplay_product_id": PREMIUM_ID},
        },
    }


def receipt(token: str, product_id: str) -> str:
    return json.dumps({"purchaseToken": token, "productId": product_id})


async def test_an_ownage_bought_on_google_play_grants_access_once(tmp_path: Path) -> None:
    async with (
        fake_play() as play,
        media_daemon(tmp_path, Clock(time.time()), play_config(play, tmp_path)) as d,
    ):
        token = play.buy(MOVIE_ID)
        verify = {
            **C,
            "operation": "ownage",
            "item": 42,
            "provider": "go",
            "amount": 499,
            "currency": "EUR",
            "receipt": receipt(token, MOVIE_ID),
        }
        assert (await ok(d, "payment.itemstate", {**C, "item": 42}))["access"] is False
        first = await ok(d, "payment.verifyinapptransaction", verify)
        assert first["duplicate"] is False
        again = await ok(d, "payment.verifyinapptransaction", verify, "ws")
        assert again["duplicate"] is True and again["transactionID"] == first["transactionID"]
        stolen = await refused(
            d, "payment.verifyinapptransaction", {**verify, "customer": "someone-else"}
        )
        assert stolen["code"] == -32009
        state = await ok(d, "payment.itemstate", {**C, "item": 42})
        assert state["access"] is True and state["valid_until"] is None
        assert (await ok(d, "payment.itemstate", {"customer": "someone-else", "item": 42}))[
            "access"
        ] is False
        paid = await d.runtime.payments.count_by_status()
        assert paid == {"paid": 1}


async def test_a_google_play_subscription_grants_access_until_its_expiry(tmp_path: Path) -> None:
    async with (
        fake_play() as play,
        media_daemon(tmp_path, Clock(time.time()), play_config(play, tmp_path)) as d,
    ):
        token = play.subscribe(PREMIUM_ID, price=("EUR", "9.99"))
        verify = {
            **C,
            "operation": "subscription",
            "provider": "go",
            "amount": 999,
            "currency": "EUR",
            "isPremium": 1,
            "receipt": receipt(token, PREMIUM_ID),
        }
        first = await ok(d, "payment.verifyinapptransaction", verify)
        assert first["duplicate"] is False and first["valid_until"] > time.time() + 29 * 86400
        state = await ok(d, "payment.itemstate", {**C, "item": 42})
        assert state["access"] is True and state["valid_until"] == first["valid_until"]
        wrong = await refused(
            d,
            "payment.verifyinapptransaction",
            {
                **verify,
                "operation": "ownage",
                "receipt": receipt(play.subscribe(PREMIUM_ID, price=("EUR", "9.99")), PREMIUM_ID),
            },
        )
        assert "not a ownage product" in wrong["message"]


async def test_a_subscription_sold_through_the_plugin_ends_when_the_store_says(
    tmp_path: Path,
) -> None:
    """A subscription started from the plugin's own payment (the payment bridge, not
    verifyinapptransaction) takes the store's period end, not a calendar month from now:
    a 45-day first period (a trial, a promotion) grants 45 days."""
    async with (
        fake_play() as play,
        media_daemon(tmp_path, Clock(time.time()), play_config(play, tmp_path)) as d,
    ):
        token = play.subscribe(PREMIUM_ID, price=("EUR", "9.99"), days=45)
        paid = await ok(
            d,
            "payment.validateGooglePlay",
            {"purchase_token": token, "product_id": PREMIUM_ID, **C},
        )
        assert paid["valid"] is True
        await d.runtime.media.bridge.run_once()
        state = await ok(d, "payment.itemstate", {**C, "item": 42})
        assert state["access"] is True
        assert state["valid_until"] == paid["expiryTime"] // 1000


async def test_google_play_renewal_and_cancellation_pushes_move_the_subscription(
    tmp_path: Path,
) -> None:
    clock = Clock(time.time())
    async with fake_play() as play, media_daemon(tmp_path, clock, play_config(play, tmp_path)) as d:
        token = play.subscribe(PREMIUM_ID, price=("EUR", "9.99"))
        first = await ok(
            d,
            "payment.verifyinapptransaction",
            {
                **C,
                "operation": "subscription",
                "provider": "go",
                "amount": 999,
                "currency": "EUR",
                "isPremium": 1,
                "receipt": receipt(token, PREMIUM_ID),
            },
        )
        await d.runtime.media.bridge.run_once()
        play.renew(token)
        assert await push(d, play, sub_note(token, 2, subscription_id=PREMIUM_ID)) == 200
        assert await d.runtime.media.bridge.run_once() >= 1
        renewed = await ok(d, "payment.itemstate", {**C, "item": 42})
        assert renewed["access"] is True and renewed["valid_until"] > first["valid_until"]
        play.cancel(token)
        assert await push(d, play, sub_note(token, 3, subscription_id=PREMIUM_ID)) == 200
        assert await d.runtime.media.bridge.run_once() >= 1
        row = await d.runtime.db.fetchone("SELECT state, will_renew FROM subscriptions")
        assert row is not None and (row["state"], bool(row["will_renew"])) == ("canceled", False)
        canceled = await ok(d, "payment.itemstate", {**C, "item": 42})
        assert canceled["access"] is True and canceled["valid_until"] == renewed["valid_until"]
        play.expire(token)
        assert await push(d, play, sub_note(token, 13, subscription_id=PREMIUM_ID)) == 200
        await d.runtime.media.bridge.run_once()
        assert (await ok(d, "payment.itemstate", {**C, "item": 42}))["access"] is False


async def test_a_renewed_order_of_another_customers_token_is_refused(tmp_path: Path) -> None:
    """Bob presents Alice's purchase token after a renewal (new order id): refused, and Alice's
    subscription and payments are untouched."""
    sessions = {"sessions": {"secret": SESSION_SECRET, "algorithms": ["HS256"]}}
    async with fake_play() as play:
        config = deep_merge(play_config(play, tmp_path), sessions)
        async with media_daemon(tmp_path, Clock(time.time()), config) as d:
            alice, bob = session("alice"), session("bob")
            token = play.subscribe(PREMIUM_ID, price=("EUR", "9.99"))
            verify = {
                "operation": "subscription",
                "provider": "go",
                "amount": 999,
                "currency": "EUR",
                "receipt": receipt(token, PREMIUM_ID),
            }
            status, body = await app_call(d, "payment.verifyinapptransaction", verify, alice)
            assert status == 200, body
            mine = body["data"]
            play.renew(token)
            status, body = await app_call(d, "payment.verifyinapptransaction", verify, bob)
            assert status == 409, body
            assert body["error"]["code"] == -32009
            assert "another customer" in body["error"]["message"]
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

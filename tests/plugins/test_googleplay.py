"""Google Play plugin over the real daemon: Google's client against a fake Play API on
loopback, Pub/Sub pushes with locally minted OIDC tokens, real HTTP, SQLite."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from xbtcpay_googleplay import GooglePlayPlugin
from xbtcpay_googleplay.subscriptions import SubscriptionChange

from tests.fakes.google_play import FakeGooglePlay, PubSubSigner, developer_notification, push_body
from tests.harness import (
    DaemonProcess,
    PostbackReceiver,
    base_config,
    running_daemon,
    write_config,
)
from tests.plugins.drivers.googleplay import (
    AUDIENCE,
    COINS,
    GOLD,
    PACKAGE,
    PRODUCTS,
    plugin_settings,
)
from xbtcpay.catalog import Catalog
from xbtcpay.errors import PluginError

_messages = itertools.count(1)


@pytest.fixture
async def play() -> AsyncIterator[FakeGooglePlay]:
    fake = await FakeGooglePlay(package=PACKAGE).start()
    try:
        yield fake
    finally:
        await fake.stop()


def config(play: FakeGooglePlay, tmp_path: Path, products: dict[str, Any] | None = None,
           **extra: Any) -> dict[str, Any]:
    return {"plugins": {"googleplay": plugin_settings(play, tmp_path, **extra)},
            "products": products or PRODUCTS}


async def validate(d: Any, token: str, product_id: str, **params: Any) -> dict[str, Any]:
    reply = await d.call("payment.validateGooglePlay",
                         {"purchase_token": token, "product_id": product_id, **params})
    assert "result" in reply, reply
    return dict(reply["result"])


async def push(d: Any, play: FakeGooglePlay, notification: dict[str, Any],
               message_id: str | None = None, token: str | None = None,
               body: bytes | None = None) -> int:
    bearer = token if token is not None else play.signer.token(AUDIENCE)
    payload = body if body is not None else push_body(notification,
                                                      message_id or f"m{next(_messages)}")
    headers = {"Content-Type": "application/json"}
    if bearer:
        headers["Authorization"] = f"Bearer {bearer}"
    async with d.session.post(d.public_url + "/webhooks/googleplay", data=payload,
                              headers=headers) as resp:
        return resp.status


def sub_note(token: str, kind: int, package: str = PACKAGE) -> dict[str, Any]:
    return developer_notification(package, subscriptionNotification={
        "version": "1.0", "notificationType": kind, "purchaseToken": token,
        "subscriptionId": GOLD})


def one_time_note(token: str, kind: int) -> dict[str, Any]:
    return developer_notification(PACKAGE, oneTimeProductNotification={
        "version": "1.0", "notificationType": kind, "purchaseToken": token, "sku": COINS})


def voided_note(entry: dict[str, Any], product_type: int) -> dict[str, Any]:
    return developer_notification(PACKAGE, voidedPurchaseNotification={
        "purchaseToken": entry["purchaseToken"], "orderId": entry["orderId"],
        "productType": product_type, "refundType": entry["refundType"]})


async def counts(d: Any) -> dict[str, int]:
    return dict(await d.runtime.payments.count_by_status())


async def event_count(d: Any) -> int:
    row = await d.runtime.db.fetchone("SELECT COUNT(*) FROM payment_events")
    return int(row[0])


# -- acceptance 1: validate, pay once, post back, acknowledge -------------------------------

async def test_one_time_product_pays_once_posts_back_and_is_acknowledged(
        tmp_path: Path, play: FakeGooglePlay, receiver: PostbackReceiver) -> None:
    token = play.buy(COINS)
    async with running_daemon(tmp_path, config(play, tmp_path)) as d:
        first = await validate(d, token, COINS, postback_url=receiver.url,
                               customer="player-1", data={"order": 9})
        assert first["valid"] is True and first["duplicate"] is False
        assert (first["status"], first["amount"], first["currency"]) == ("paid", "4.99", "USD")
        assert first["product"] == "coins100" and first["kind"] == "product"
        [got] = await receiver.wait_for(1)
        assert got["json"]["id"] == first["id"] and got["json"]["event"] == "paid"
        assert got["json"]["method"] == "googleplay"
        assert play.acknowledged == [token]
        again = await validate(d, token, COINS, postback_url=receiver.url)
        assert again["duplicate"] is True and again["id"] == first["id"]
        assert await counts(d) == {"paid": 1}
        assert play.acknowledged == [token] and len(receiver.received) == 1
        payment = await d.runtime.payments.get(first["id"])
        assert payment.customer == "player-1" and payment.provider_ref == token


async def test_subscription_pays_once_and_is_acknowledged(
        tmp_path: Path, play: FakeGooglePlay, receiver: PostbackReceiver) -> None:
    token = play.subscribe(GOLD, price=("USD", "9.99"))
    async with running_daemon(tmp_path, config(play, tmp_path)) as d:
        first = await validate(d, token, GOLD, postback_url=receiver.url)
        assert first["valid"] is True and first["kind"] == "subscription"
        assert (first["amount"], first["currency"], first["product"]) == ("9.99", "USD", "gold")
        assert first["orderId"] == play.subscriptions[(PACKAGE, token)]["latestOrderId"]
        await receiver.wait_for(1)
        assert play.acknowledged == [token]
        assert (await validate(d, token, GOLD))["duplicate"] is True
        assert await counts(d) == {"paid": 1} and play.acknowledged == [token]


async def test_acknowledged_purchase_is_not_acknowledged_again(
        tmp_path: Path, play: FakeGooglePlay) -> None:
    token = play.buy(COINS, acknowledged=True)
    async with running_daemon(tmp_path, config(play, tmp_path)) as d:
        assert (await validate(d, token, COINS))["valid"] is True
    assert play.acknowledged == []


@pytest.mark.parametrize("case", ["unknown_product", "token_of_other_product",
                                  "token_of_other_package", "unknown_token"])
async def test_wrong_product_or_package_is_refused(
        tmp_path: Path, play: FakeGooglePlay, case: str) -> None:
    bought = play.buy(COINS, package="com.other.app" if case == "token_of_other_package"
                      else None)
    token, product_id, reason = {
        "unknown_product": (bought, "gems.500", "product gems.500 is not in the catalog"),
        "token_of_other_product": (bought, GOLD, "not valid"),
        "token_of_other_package": (bought, COINS, "not valid"),
        "unknown_token": ("no-such-token", COINS, "not valid"),
    }[case]
    async with running_daemon(tmp_path, config(play, tmp_path)) as d:
        answer = await validate(d, token, product_id)
        assert answer["valid"] is False and reason in answer["reason"], answer
        assert await counts(d) == {} and await event_count(d) == 0
    assert play.acknowledged == []


async def test_package_name_of_another_app_is_a_clear_error(
        tmp_path: Path, play: FakeGooglePlay) -> None:
    token = play.buy(COINS)
    async with running_daemon(tmp_path, config(play, tmp_path)) as d:
        reply = await d.call("payment.validateGooglePlay", {
            "purchase_token": token, "product_id": COINS, "package_name": "com.other.app"})
        assert reply["error"]["code"] == -32602
        assert "com.other.app" in reply["error"]["message"]
        assert await counts(d) == {}


async def test_voided_purchase_is_refused_and_refunds_its_payment(
        tmp_path: Path, play: FakeGooglePlay, receiver: PostbackReceiver) -> None:
    token = play.buy(COINS)
    async with running_daemon(tmp_path, config(play, tmp_path)) as d:
        paid = await validate(d, token, COINS, postback_url=receiver.url)
        play.void(token)
        answer = await validate(d, token, COINS)
        assert answer == {"valid": False, "reason": "purchase was canceled or refunded"}
        assert await counts(d) == {"refunded": 1}
        got = await receiver.wait_for(2)
        assert [g["json"]["event"] for g in got] == ["paid", "refunded"]
        assert got[1]["json"]["id"] == paid["id"]


async def test_expired_subscription_is_refused(tmp_path: Path, play: FakeGooglePlay) -> None:
    token = play.subscribe(GOLD)
    play.expire(token)
    async with running_daemon(tmp_path, config(play, tmp_path)) as d:
        answer = await validate(d, token, GOLD)
        assert answer["valid"] is False and "SUBSCRIPTION_STATE_EXPIRED" in answer["reason"]
        assert await counts(d) == {}
    assert play.acknowledged == []


async def test_test_purchases_are_refused_unless_allowed(
        tmp_path: Path, play: FakeGooglePlay) -> None:
    token, sub = play.buy(COINS, test=True), play.subscribe(GOLD, test=True)
    (tmp_path / "a").mkdir()
    async with running_daemon(tmp_path / "a", config(play, tmp_path)) as d:
        for t, p in ((token, COINS), (sub, GOLD)):
            answer = await validate(d, t, p)
            assert answer["valid"] is False and "test purchase" in answer["reason"]
        assert await counts(d) == {}
    (tmp_path / "b").mkdir()
    async with running_daemon(tmp_path / "b", config(play, tmp_path,
                                                     allow_test_purchases=True)) as d:
        assert (await validate(d, token, COINS))["test"] is True
        assert (await validate(d, sub, GOLD))["valid"] is True
        assert await counts(d) == {"paid": 2}


async def test_google_unavailable_is_a_provider_error_and_records_nothing(
        tmp_path: Path, play: FakeGooglePlay) -> None:
    token = play.buy(COINS)
    play.fail_with = 503
    async with running_daemon(tmp_path, config(play, tmp_path)) as d:
        reply = await d.call("payment.validateGooglePlay",
                             {"purchase_token": token, "product_id": COINS})
        assert reply["error"]["code"] == -32010, reply
        assert await counts(d) == {}
        play.fail_with = None
        assert (await validate(d, token, COINS))["valid"] is True


async def test_bad_params_are_clear_errors(tmp_path: Path, play: FakeGooglePlay) -> None:
    async with running_daemon(tmp_path, config(play, tmp_path)) as d:
        for params, message in (({"product_id": COINS}, "missing purchase_token"),
                                ({"purchase_token": "t"}, "missing product_id"),
                                ({"purchase_token": "t", "product_id": COINS, "customer": 5},
                                 "customer must be a string"),
                                ({"purchase_token": "t", "product_id": COINS,
                                  "postback_url": "ftp://x"}, "invalid postback URL")):
            reply = await d.call("payment.validateGooglePlay", params)
            assert reply["error"]["code"] == -32602 and message in reply["error"]["message"]
        assert play.calls == []


# -- the amount rule -------------------------------------------------------------------------

@pytest.mark.parametrize(("price", "valid"), [
    (("USD", "9.99"), True), (("USD", "10.49"), True), (("USD", "9.98"), False),
    (("EUR", "9.99"), False), (("USD", "0"), False)])
async def test_subscription_price_must_cover_the_catalog_price(
        tmp_path: Path, play: FakeGooglePlay, price: tuple[str, str], valid: bool) -> None:
    token = play.subscribe(GOLD, price=price)
    async with running_daemon(tmp_path, config(play, tmp_path)) as d:
        answer = await validate(d, token, GOLD)
        assert answer["valid"] is valid, answer
        if valid:
            assert (answer["amount"], answer["currency"]) == ("9.99", "USD")
            assert await counts(d) == {"paid": 1}
        else:
            assert await counts(d) == {} and play.acknowledged == []


async def test_price_in_another_catalog_currency_pays_that_price(
        tmp_path: Path, play: FakeGooglePlay) -> None:
    products = {**PRODUCTS, "gold": {**PRODUCTS["gold"], "prices": {"USD": "9.99",
                                                                     "EUR": "8.99"}}}
    token = play.subscribe(GOLD, price=("EUR", "8.99"))
    async with running_daemon(tmp_path, config(play, tmp_path, products)) as d:
        answer = await validate(d, token, GOLD)
        assert (answer["valid"], answer["amount"], answer["currency"]) == (True, "8.99", "EUR")


async def test_one_time_quantity_pays_catalog_price_times_quantity(
        tmp_path: Path, play: FakeGooglePlay) -> None:
    token = play.buy(COINS, quantity=3)
    async with running_daemon(tmp_path, config(play, tmp_path)) as d:
        assert (await validate(d, token, COINS))["amount"] == "14.97"


# -- pending purchases ------------------------------------------------------------------------

async def test_pending_purchase_is_paid_when_google_completes_it(
        tmp_path: Path, play: FakeGooglePlay, receiver: PostbackReceiver) -> None:
    token = play.buy(COINS, pending=True)
    async with running_daemon(tmp_path, config(play, tmp_path)) as d:
        answer = await validate(d, token, COINS, postback_url=receiver.url, customer="p2")
        assert answer["valid"] is False and answer["pending"] is True
        assert await counts(d) == {"new": 1} and play.acknowledged == []
        play.complete(token)
        assert await push(d, play, one_time_note(token, 1)) == 200
        [got] = await receiver.wait_for(1)
        assert got["json"]["id"] == answer["id"] and got["json"]["event"] == "paid"
        assert await counts(d) == {"paid": 1} and play.acknowledged == [token]
        assert (await d.runtime.payments.get(answer["id"])).customer == "p2"


async def test_pending_purchase_canceled_by_google_is_canceled(
        tmp_path: Path, play: FakeGooglePlay) -> None:
    token = play.buy(COINS, pending=True)
    async with running_daemon(tmp_path, config(play, tmp_path)) as d:
        await validate(d, token, COINS)
        assert await push(d, play, one_time_note(token, 2)) == 200   # Google: still pending
        assert await counts(d) == {"new": 1}
        play.products[(PACKAGE, token)]["purchaseState"] = 1
        assert await push(d, play, one_time_note(token, 2)) == 200
        assert await counts(d) == {"canceled": 1}


# -- acceptance 2: real-time developer notifications ------------------------------------------

async def test_renewal_push_records_a_new_paid_payment_for_the_same_customer(
        tmp_path: Path, play: FakeGooglePlay, receiver: PostbackReceiver) -> None:
    token = play.subscribe(GOLD)
    async with running_daemon(tmp_path, config(play, tmp_path)) as d:
        first = await validate(d, token, GOLD, postback_url=receiver.url, customer="p3",
                               data={"user": 3})
        order = play.renew(token)
        assert await push(d, play, sub_note(token, 2), "renew-1") == 200
        got = await receiver.wait_for(2)
        renewal = got[1]["json"]
        assert renewal["event"] == "paid" and renewal["id"] != first["id"]
        payment = await d.runtime.payments.get(renewal["id"])
        assert payment.provider_ref == order and payment.customer == "p3"
        assert payment.extra["renewal_of"] == first["id"] and payment.data_value == {"user": 3}
        before = (await event_count(d), await counts(d))
        assert await push(d, play, sub_note(token, 2), "renew-1") == 200
        assert await push(d, play, sub_note(token, 2), "renew-2") == 200
        assert (await event_count(d), await counts(d)) == before == (before[0], {"paid": 2})
        assert len(receiver.received) == 2


async def test_cancellation_push_records_the_period_that_will_not_renew(
        tmp_path: Path, play: FakeGooglePlay) -> None:
    token = play.subscribe(GOLD)
    async with running_daemon(tmp_path, config(play, tmp_path)) as d:
        first = await validate(d, token, GOLD)
        assert await push(d, play, sub_note(token, 3), "cancel-1") == 200
        assert await counts(d) == {"paid": 1}      # Google still says ACTIVE: nothing moves
        play.cancel(token)
        assert await push(d, play, sub_note(token, 3), "cancel-2") == 200
        assert await counts(d) == {"paid": 1, "canceled": 1}
        assert (await d.runtime.payments.get(first["id"])).status == "paid"
        assert await push(d, play, sub_note(token, 3), "cancel-2") == 200
        assert await counts(d) == {"paid": 1, "canceled": 1}


async def test_expiry_push_records_an_expired_period(
        tmp_path: Path, play: FakeGooglePlay) -> None:
    token = play.subscribe(GOLD)
    async with running_daemon(tmp_path, config(play, tmp_path)) as d:
        await validate(d, token, GOLD)
        play.expire(token)
        assert await push(d, play, sub_note(token, 13)) == 200
        assert await counts(d) == {"paid": 1, "expired": 1}


async def test_refund_push_refunds_a_one_time_purchase(
        tmp_path: Path, play: FakeGooglePlay, receiver: PostbackReceiver) -> None:
    token = play.buy(COINS)
    async with running_daemon(tmp_path, config(play, tmp_path)) as d:
        paid = await validate(d, token, COINS, postback_url=receiver.url)
        entry = play.void(token)
        assert await push(d, play, voided_note(entry, 2), "void-1") == 200
        got = await receiver.wait_for(2)
        assert got[1]["json"]["event"] == "refunded" and got[1]["json"]["id"] == paid["id"]
        before = await event_count(d)
        assert await push(d, play, voided_note(entry, 2), "void-1") == 200
        assert await push(d, play, voided_note(entry, 2), "void-2") == 200
        assert await event_count(d) == before and await counts(d) == {"refunded": 1}


async def test_revocation_and_void_of_a_subscription_refund_its_order_once(
        tmp_path: Path, play: FakeGooglePlay) -> None:
    token = play.subscribe(GOLD)
    async with running_daemon(tmp_path, config(play, tmp_path)) as d:
        paid = await validate(d, token, GOLD)
        entry = play.void(token, subscription=True)
        assert await push(d, play, sub_note(token, 12)) == 200
        assert await push(d, play, voided_note(entry, 1)) == 200
        assert await counts(d) == {"refunded": 1}
        events = await d.runtime.payments.events(paid["id"])
        assert [e["event"] for e in events].count("refunded") == 1


async def test_quantity_refund_refunds_the_voided_units(
        tmp_path: Path, play: FakeGooglePlay) -> None:
    token = play.buy(COINS, quantity=3)
    async with running_daemon(tmp_path, config(play, tmp_path)) as d:
        paid = await validate(d, token, COINS)
        assert await push(d, play, voided_note(play.void(token, quantity=1), 2)) == 200
        payment = await d.runtime.payments.get(paid["id"])
        assert (payment.status, str(payment.amount_refunded)) == ("partially_refunded", "4.99")
        assert await push(d, play, voided_note(play.void(token, quantity=2), 2)) == 200
        payment = await d.runtime.payments.get(paid["id"])
        assert (payment.status, str(payment.amount_refunded)) == ("refunded", "14.97")


async def test_voided_purchases_poll_refunds_what_no_push_reported(
        tmp_path: Path, play: FakeGooglePlay) -> None:
    plugin = GooglePlayPlugin()
    token, other = play.buy(COINS), play.buy(COINS)
    async with running_daemon(tmp_path, config(play, tmp_path),
                              plugins={"googleplay": plugin}) as d:
        paid = await validate(d, token, COINS)
        await validate(d, other, COINS)
        play.void(token)
        play.voided.append({**play.voided[0], "purchaseToken": "unknown", "orderId": "GPA.x"})
        await plugin.voided_poll()
        await plugin.voided_poll()
        assert await counts(d) == {"paid": 1, "refunded": 1}
        assert (await d.runtime.payments.get(paid["id"])).status == "refunded"
        assert any(c.endswith("/voidedpurchases") for c in play.calls)


# -- forged and foreign pushes ---------------------------------------------------------------

@pytest.mark.parametrize("forgery", [
    "no_token", "another_key", "expired", "wrong_audience", "wrong_issuer",
    "wrong_service_account", "email_not_verified", "not_a_jwt", "unknown_kid"])
async def test_forged_push_is_401_and_changes_nothing(
        tmp_path: Path, play: FakeGooglePlay, forgery: str) -> None:
    signer = play.signer
    token = {
        "no_token": "",
        "another_key": PubSubSigner().token(AUDIENCE, kid=signer.kid),
        "expired": signer.token(AUDIENCE, expires_in=-120),
        "wrong_audience": signer.token("https://evil.example/webhooks/googleplay"),
        "wrong_issuer": signer.token(AUDIENCE, issuer="https://evil.example"),
        "wrong_service_account": signer.token(AUDIENCE, email="me@evil.iam.gserviceaccount.com"),
        "email_not_verified": signer.token(AUDIENCE, email_verified=False),
        "not_a_jwt": "abc.def",
        "unknown_kid": PubSubSigner().token(AUDIENCE),
    }[forgery]
    purchase = play.buy(COINS)
    async with running_daemon(tmp_path, config(play, tmp_path)) as d:
        assert await push(d, play, one_time_note(purchase, 1), token=token) == 401
        assert await counts(d) == {} and await event_count(d) == 0
    assert not any("/purchases/" in c for c in play.calls)


async def test_malformed_push_with_a_valid_token_is_400(
        tmp_path: Path, play: FakeGooglePlay) -> None:
    async with running_daemon(tmp_path, config(play, tmp_path)) as d:
        for body in (b"not json", b'{"message": {"messageId": "1", "data": "%%%"}}',
                     b'{"message": {"data": "e30="}}', b"[]"):
            assert await push(d, play, {}, body=body) == 400
        assert await counts(d) == {}


async def test_push_for_another_package_or_a_test_notification_changes_nothing(
        tmp_path: Path, play: FakeGooglePlay) -> None:
    token = play.subscribe(GOLD)
    async with running_daemon(tmp_path, config(play, tmp_path)) as d:
        assert await push(d, play, sub_note(token, 4, package="com.other.app")) == 200
        assert await push(d, play, developer_notification(
            PACKAGE, testNotification={"version": "1.0"})) == 200
        assert await counts(d) == {} and play.calls == []


async def test_push_while_google_is_down_is_retried_by_pubsub(
        tmp_path: Path, play: FakeGooglePlay) -> None:
    token = play.subscribe(GOLD)
    async with running_daemon(tmp_path, config(play, tmp_path)) as d:
        play.fail_with = 500
        assert await push(d, play, sub_note(token, 4), "buy-1") == 503
        assert await counts(d) == {}
        play.fail_with = None
        assert await push(d, play, sub_note(token, 4), "buy-1") == 200
        assert await counts(d) == {"paid": 1} and play.acknowledged == [token]


# -- configuration ----------------------------------------------------------------------------

def test_catalog_checks_googleplay_product_ids() -> None:
    price = {"type": "one_time", "prices": {"USD": "1.00"}}
    assert Catalog.problems({"a": {**price, "googleplay_product_id": "x"}}) == []
    assert Catalog.problems({"a": {**price, "googleplay_product_id": 5}}) == [
        "products.a.googleplay_product_id: expected the product id of Google Play Console"]
    assert Catalog.problems({"a": {**price, "googleplay_product_id": "x"},
                             "b": {**price, "googleplay_product_id": "x"}}) == [
        "products.b.googleplay_product_id: 'x' is already the id of products.a"]


async def test_settings_problems_stop_start_up_with_every_problem(tmp_path: Path) -> None:
    bad = {"plugins": {"googleplay": {"package_name": "not a package",
                                      "service_account_file": str(tmp_path / "missing.json"),
                                      "push_audience": "pay.example.com",
                                      "push_service_account": "nobody"}},
           "products": PRODUCTS}
    with pytest.raises(PluginError) as info:
        async with running_daemon(tmp_path, bad):
            pass
    message = str(info.value)
    for key in ("package_name", "service_account_file", "push_audience",
                "push_service_account"):
        assert f"plugins.googleplay.{key}" in message
    assert "private_key" not in message


async def test_test_subscription_reported_by_push_is_not_paid(
        tmp_path: Path, play: FakeGooglePlay) -> None:
    token = play.subscribe(GOLD, test=True)
    async with running_daemon(tmp_path, config(play, tmp_path)) as d:
        assert await push(d, play, sub_note(token, 4)) == 200
        assert await counts(d) == {} and play.acknowledged == []


async def test_push_body_arriving_in_pieces_is_read_whole(
        tmp_path: Path, play: FakeGooglePlay) -> None:
    token = play.subscribe(GOLD)
    body = push_body(sub_note(token, 4), "chunked-1")

    async def pieces() -> AsyncIterator[bytes]:
        for i in range(0, len(body), 16):
            yield body[i:i + 16]
            await asyncio.sleep(0.001)

    async with running_daemon(tmp_path, config(play, tmp_path)) as d:
        async with d.session.post(d.public_url + "/webhooks/googleplay", data=pieces(),
                                  headers={"Authorization":
                                           f"Bearer {play.signer.token(AUDIENCE)}"}) as resp:
            assert resp.status == 200
        assert await counts(d) == {"paid": 1}


async def test_a_subscription_layer_can_take_over_subscription_notifications(
        tmp_path: Path, play: FakeGooglePlay) -> None:
    seen: list[tuple[int, str, str | None]] = []

    class WithSubscriptions(GooglePlayPlugin):
        async def on_subscription(self, change: SubscriptionChange) -> str:
            seen.append((change.notification_type, change.purchase.state,
                         change.origin.customer))
            return "handled"

    token = play.subscribe(GOLD)
    async with running_daemon(tmp_path, config(play, tmp_path),
                              plugins={"googleplay": WithSubscriptions()}) as d:
        await validate(d, token, GOLD, customer="p9")
        play.cancel(token)
        assert await push(d, play, sub_note(token, 3)) == 200
        assert await counts(d) == {"paid": 1}
    assert seen == [(3, "SUBSCRIPTION_STATE_CANCELED", "p9")]


async def test_kill_9_after_validation_keeps_the_payment_and_its_postback(
        tmp_path: Path, play: FakeGooglePlay, receiver: PostbackReceiver) -> None:
    receiver.fail_times = 1_000                     # the shop is down until the restart
    daemon = DaemonProcess(write_config(tmp_path, base_config(tmp_path, config(play, tmp_path))))
    token = play.buy(COINS)
    await daemon.start()
    try:
        async with aiohttp.ClientSession() as session:
            body = {"jsonrpc": "2.0", "id": 1, "method": "payment.validateGooglePlay",
                    "params": {"purchase_token": token, "product_id": COINS,
                               "postback_url": receiver.url}}
            async with session.post(daemon.rpc_url + "/", json=body) as resp:
                answer = (await resp.json())["result"]
            assert answer["valid"] is True
            daemon.kill9()                          # right after the acknowledgement
            receiver.fail_times = 0
            await daemon.start()
            got = await receiver.wait_for(1)
            # At least once: a delivery the killed daemon sent but never saw answered is sent
            # again, with the same event id for the shop to deduplicate.
            assert {(g["json"]["id"], g["json"]["event"], g["headers"]["X-Xbtcpay-Event-Id"])
                    for g in got} == {(answer["id"], "paid", got[0]["headers"][
                        "X-Xbtcpay-Event-Id"])}
            async with session.get(f"{daemon.public_url}/{answer['id']}/status.json") as r:
                assert (await r.json())["status"] == "paid"
            async with session.post(daemon.rpc_url + "/", json=body) as resp:
                assert (await resp.json())["result"]["duplicate"] is True
    finally:
        daemon.terminate()


HOSTILE_VALUES: list[Any] = [None, 5, -1, True, "", "x", "9" * 300, [], {}, [1], {"a": 1},
                             "../../etc", "\u0000", 1e308]


def _mutations(note: dict[str, Any]) -> list[dict[str, Any]]:
    """``note`` with each field (one level down too) replaced by each hostile value."""
    out = []
    for key, value in note.items():
        for bad in HOSTILE_VALUES:
            out.append({**note, key: bad})
        if isinstance(value, dict):
            for inner in value:
                for bad in HOSTILE_VALUES:
                    out.append({**note, key: {**value, inner: bad}})
    return out


async def test_hostile_notifications_with_a_valid_token_never_fail_the_server(
        tmp_path: Path, play: FakeGooglePlay) -> None:
    token = play.subscribe(GOLD)
    bought = play.buy(COINS)
    notes = (_mutations(sub_note(token, 4)) + _mutations(one_time_note(bought, 1))
             + _mutations(voided_note({"purchaseToken": bought, "orderId": "GPA.1",
                                       "refundType": 1}, 2)))
    async with running_daemon(tmp_path, config(play, tmp_path)) as d:
        statuses = {await push(d, play, note) for note in notes}
        assert statuses <= {200, 400}, statuses
        # Only what Google reports counts, whatever the notification says: both purchases
        # are paid (intact fields name them) and neither is refunded (Google voided none).
        assert await counts(d) == {"paid": 2}


async def test_void_or_revocation_google_does_not_confirm_changes_nothing(
        tmp_path: Path, play: FakeGooglePlay) -> None:
    bought, sub = play.buy(COINS), play.subscribe(GOLD)
    async with running_daemon(tmp_path, config(play, tmp_path)) as d:
        await validate(d, bought, COINS)
        paid_sub = await validate(d, sub, GOLD)
        order = paid_sub["orderId"]
        assert await push(d, play, voided_note({"purchaseToken": bought, "orderId": "GPA.1",
                                                "refundType": 1}, 2)) == 200
        assert await push(d, play, voided_note({"purchaseToken": sub, "orderId": order,
                                                "refundType": 1}, 1)) == 200
        assert await push(d, play, sub_note(sub, 12)) == 200
        assert await counts(d) == {"paid": 2}

"""Google Play validation over the real daemon: Google's client against a fake Play API on
loopback, real HTTP, SQLite; the amount rule, pending purchases, settings, kill -9."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from tests.fakes.google_play import FakeGooglePlay
from tests.harness import (
    DaemonProcess,
    PostbackReceiver,
    base_config,
    running_daemon,
    write_config,
)
from tests.plugins.drivers.googleplay import (
    COINS,
    GOLD,
    PACKAGE,
    PRODUCTS,
)
from tests.plugins.googleplay_kit import (
    config,
    counts,
    event_count,
    fake_play,
    one_time_note,
    push,
    validate,
)
from xbtcpay.core.catalog import Catalog
from xbtcpay.core.errors import PluginError


@pytest.fixture
async def play() -> AsyncIterator[FakeGooglePlay]:
    async with fake_play() as fake:
        yield fake


async def test_one_time_product_pays_once_posts_back_and_is_acknowledged(
    tmp_path: Path, play: FakeGooglePlay, receiver: PostbackReceiver
) -> None:
    token = play.buy(COINS)
    async with running_daemon(tmp_path, config(play, tmp_path)) as d:
        first = await validate(
            d, token, COINS, postback_url=receiver.url, customer="player-1", data={"order": 9}
        )
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
    tmp_path: Path, play: FakeGooglePlay, receiver: PostbackReceiver
) -> None:
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
    tmp_path: Path, play: FakeGooglePlay
) -> None:
    token = play.buy(COINS, acknowledged=True)
    async with running_daemon(tmp_path, config(play, tmp_path)) as d:
        assert (await validate(d, token, COINS))["valid"] is True
    assert play.acknowledged == []


@pytest.mark.parametrize(
    "case", ["unknown_product", "token_of_other_product", "token_of_other_package", "unknown_token"]
)
async def test_wrong_product_or_package_is_refused(
    tmp_path: Path, play: FakeGooglePlay, case: str
) -> None:
    bought = play.buy(COINS, package="com.other.app" if case == "token_of_other_package" else None)
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
    tmp_path: Path, play: FakeGooglePlay
) -> None:
    token = play.buy(COINS)
    async with running_daemon(tmp_path, config(play, tmp_path)) as d:
        reply = await d.call(
            "payment.validateGooglePlay",
            {"purchase_token": token, "product_id": COINS, "package_name": "com.other.app"},
        )
        assert reply["error"]["code"] == -32602
        assert "com.other.app" in reply["error"]["message"]
        assert await counts(d) == {}


async def test_voided_purchase_is_refused_and_refunds_its_payment(
    tmp_path: Path, play: FakeGooglePlay, receiver: PostbackReceiver
) -> None:
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
    tmp_path: Path, play: FakeGooglePlay
) -> None:
    token, sub = play.buy(COINS, test=True), play.subscribe(GOLD, test=True)
    (tmp_path / "a").mkdir()
    async with running_daemon(tmp_path / "a", config(play, tmp_path)) as d:
        for t, p in ((token, COINS), (sub, GOLD)):
            answer = await validate(d, t, p)
            assert answer["valid"] is False and "test purchase" in answer["reason"]
        assert await counts(d) == {}
    (tmp_path / "b").mkdir()
    async with running_daemon(
        tmp_path / "b", config(play, tmp_path, allow_test_purchases=True)
    ) as d:
        assert (await validate(d, token, COINS))["test"] is True
        assert (await validate(d, sub, GOLD))["valid"] is True
        assert await counts(d) == {"paid": 2}


async def test_google_unavailable_is_a_provider_error_and_records_nothing(
    tmp_path: Path, play: FakeGooglePlay
) -> None:
    token = play.buy(COINS)
    play.fail_with = 503
    async with running_daemon(tmp_path, config(play, tmp_path)) as d:
        reply = await d.call(
            "payment.validateGooglePlay", {"purchase_token": token, "product_id": COINS}
        )
        assert reply["error"]["code"] == -32010, reply
        assert await counts(d) == {}
        play.fail_with = None
        assert (await validate(d, token, COINS))["valid"] is True


async def test_bad_params_are_clear_errors(tmp_path: Path, play: FakeGooglePlay) -> None:
    async with running_daemon(tmp_path, config(play, tmp_path)) as d:
        for params, message in (
            ({"product_id": COINS}, "missing purchase_token"),
            ({"purchase_token": "t"}, "missing product_id"),
            (
                {"purchase_token": "t", "product_id": COINS, "customer": 5},
                "customer must be a string",
            ),
            (
                {"purchase_token": "t", "product_id": COINS, "postback_url": "ftp://x"},
                "invalid postback URL",
            ),
        ):
            reply = await d.call("payment.validateGooglePlay", params)
            assert reply["error"]["code"] == -32602 and message in reply["error"]["message"]
        assert play.calls == []


@pytest.mark.parametrize(
    ("price", "valid"),
    [
        (("USD", "9.99"), True),
        (("USD", "10.49"), True),
        (("USD", "9.98"), False),
        (("EUR", "9.99"), False),
        (("USD", "0"), False),
    ],
)
async def test_subscription_price_must_cover_the_catalog_price(
    tmp_path: Path, play: FakeGooglePlay, price: tuple[str, str], valid: bool
) -> None:
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
    tmp_path: Path, play: FakeGooglePlay
) -> None:
    products = {**PRODUCTS, "gold": {**PRODUCTS["gold"], "prices": {"USD": "9.99", "EUR": "8.99"}}}
    token = play.subscribe(GOLD, price=("EUR", "8.99"))
    async with running_daemon(tmp_path, config(play, tmp_path, products)) as d:
        answer = await validate(d, token, GOLD)
        assert (answer["valid"], answer["amount"], answer["currency"]) == (True, "8.99", "EUR")


@pytest.mark.parametrize(
    ("price", "valid"),
    [(("USD", 4_990_000), True), (("USD", 4_989_999), False), (("EUR", 4_990_000), False)],
)
async def test_one_time_price_in_micros_must_cover_the_catalog_price(
    tmp_path: Path, play: FakeGooglePlay, price: tuple[str, int], valid: bool
) -> None:
    token = play.buy(COINS, price=price)
    async with running_daemon(tmp_path, config(play, tmp_path)) as d:
        assert (await validate(d, token, COINS))["valid"] is valid
        assert await counts(d) == ({"paid": 1} if valid else {})


async def test_one_time_quantity_pays_catalog_price_times_quantity(
    tmp_path: Path, play: FakeGooglePlay
) -> None:
    token = play.buy(COINS, quantity=3)
    async with running_daemon(tmp_path, config(play, tmp_path)) as d:
        assert (await validate(d, token, COINS))["amount"] == "14.97"


async def test_pending_purchase_is_paid_when_google_completes_it(
    tmp_path: Path, play: FakeGooglePlay, receiver: PostbackReceiver
) -> None:
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
    tmp_path: Path, play: FakeGooglePlay
) -> None:
    token = play.buy(COINS, pending=True)
    async with running_daemon(tmp_path, config(play, tmp_path)) as d:
        await validate(d, token, COINS)
        assert await push(d, play, one_time_note(token, 2)) == 200  # Google: still pending
        assert await counts(d) == {"new": 1}
        play.products[(PACKAGE, token)]["purchaseState"] = 1
        assert await push(d, play, one_time_note(token, 2)) == 200
        assert await counts(d) == {"canceled": 1}


def test_catalog_checks_googleplay_product_ids() -> None:
    price = {"type": "one_time", "prices": {"USD": "1.00"}}
    assert Catalog.problems({"a": {**price, "googleplay_product_id": "x"}}) == []
    assert Catalog.problems({"a": {**price, "googleplay_product_id": 5}}) == [
        "products.a.googleplay_product_id: expected the product id of Google Play Console"
    ]
    assert Catalog.problems(
        {"a": {**price, "googleplay_product_id": "x"}, "b": {**price, "googleplay_product_id": "x"}}
    ) == ["products.b.googleplay_product_id: 'x' is already the id of products.a"]


async def test_settings_problems_stop_start_up_with_every_problem(tmp_path: Path) -> None:
    bad = {
        "plugins": {
            "googleplay": {
                "package_name": "not a package",
                "service_account_file": str(tmp_path / "missing.json"),
                "push_audience": "pay.example.com",
                "push_service_account": "nobody",
            }
        },
        "products": PRODUCTS,
    }
    with pytest.raises(PluginError) as info:
        async with running_daemon(tmp_path, bad):
            pass
    message = str(info.value)
    for key in ("package_name", "service_account_file", "push_audience", "push_service_account"):
        assert f"plugins.googleplay.{key}" in message
    assert "private_key" not in message


async def test_kill_9_after_validation_keeps_the_payment_and_its_postback(
    tmp_path: Path, play: FakeGooglePlay, receiver: PostbackReceiver
) -> None:
    receiver.fail_times = 1_000  # the shop is down until the restart
    daemon = DaemonProcess(write_config(tmp_path, base_config(tmp_path, config(play, tmp_path))))
    token = play.buy(COINS)
    await daemon.start()
    try:
        async with aiohttp.ClientSession() as session:
            body = {
                "jsonrpc": "2.0",
                "id": 1,
                "method": "payment.validateGooglePlay",
                "params": {
                    "purchase_token": token,
                    "product_id": COINS,
                    "postback_url": receiver.url,
                },
            }
            async with session.post(daemon.rpc_url + "/", json=body) as resp:
                answer = (await resp.json())["result"]
            assert answer["valid"] is True
            daemon.kill9()  # right after the acknowledgement
            receiver.fail_times = 0
            await daemon.start()
            got = await receiver.wait_for(1)
            # At least once: a delivery the killed daemon sent but never saw answered is sent
            # again, with the same event id for the shop to deduplicate.
            assert {
                (g["json"]["id"], g["json"]["event"], g["headers"]["X-Xbtcpay-Event-Id"])
                for g in got
            } == {(answer["id"], "paid", got[0]["headers"]["X-Xbtcpay-Event-Id"])}
            async with session.get(f"{daemon.public_url}/{answer['id']}/status.json") as r:
                assert (await r.json())["status"] == "paid"
            async with session.post(daemon.rpc_url + "/", json=body) as resp:
                assert (await resp.json())["result"]["duplicate"] is True
    finally:
        daemon.terminate()

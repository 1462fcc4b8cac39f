"""Google Play real-time developer notifications over the real daemon: Pub/Sub pushes with
locally minted OIDC tokens, renewals, cancellations, refunds, forgeries, the voided poll."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from xbtcpay_googleplay import GooglePlayPlugin
from xbtcpay_googleplay.subscriptions import SubscriptionChange

from tests.fakes.google_play import FakeGooglePlay, PubSubSigner, developer_notification, push_body
from tests.harness import (
    PostbackReceiver,
    running_daemon,
)
from tests.plugins.drivers.googleplay import (
    AUDIENCE,
    COINS,
    GOLD,
    PACKAGE,
)
from tests.plugins.googleplay_kit import (
    config,
    counts,
    event_count,
    fake_play,
    one_time_note,
    push,
    sub_note,
    validate,
    voided_note,
)


@pytest.fixture
async def play() -> AsyncIterator[FakeGooglePlay]:
    async with fake_play() as fake:
        yield fake


async def test_renewal_push_records_a_new_paid_payment_for_the_same_customer(
    tmp_path: Path, play: FakeGooglePlay, receiver: PostbackReceiver
) -> None:
    token = play.subscribe(GOLD)
    async with running_daemon(tmp_path, config(play, tmp_path)) as d:
        first = await validate(
            d, token, GOLD, postback_url=receiver.url, customer="p3", data={"user": 3}
        )
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
    tmp_path: Path, play: FakeGooglePlay
) -> None:
    token = play.subscribe(GOLD)
    async with running_daemon(tmp_path, config(play, tmp_path)) as d:
        first = await validate(d, token, GOLD)
        assert await push(d, play, sub_note(token, 3), "cancel-1") == 200
        assert await counts(d) == {"paid": 1}  # Google still says ACTIVE: nothing moves
        play.cancel(token)
        assert await push(d, play, sub_note(token, 3), "cancel-2") == 200
        assert await counts(d) == {"paid": 1, "canceled": 1}
        assert (await d.runtime.payments.get(first["id"])).status == "paid"
        assert await push(d, play, sub_note(token, 3), "cancel-2") == 200
        assert await counts(d) == {"paid": 1, "canceled": 1}


async def test_repeated_cancellation_pushes_with_new_message_ids_record_one_lapse(
    tmp_path: Path, play: FakeGooglePlay
) -> None:
    """Google may tell of one cancellation several times, each with its own message id: the
    period that will not renew is recorded once."""
    token = play.subscribe(GOLD)
    async with running_daemon(tmp_path, config(play, tmp_path)) as d:
        await validate(d, token, GOLD)
        play.cancel(token)
        for message_id in ("cancel-a", "cancel-b", "cancel-c"):
            assert await push(d, play, sub_note(token, 3), message_id) == 200
        assert await counts(d) == {"paid": 1, "canceled": 1}


async def test_expiry_push_records_an_expired_period(tmp_path: Path, play: FakeGooglePlay) -> None:
    token = play.subscribe(GOLD)
    async with running_daemon(tmp_path, config(play, tmp_path)) as d:
        await validate(d, token, GOLD)
        play.expire(token)
        assert await push(d, play, sub_note(token, 13)) == 200
        assert await counts(d) == {"paid": 1, "expired": 1}


async def test_refund_push_refunds_a_one_time_purchase(
    tmp_path: Path, play: FakeGooglePlay, receiver: PostbackReceiver
) -> None:
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
    tmp_path: Path, play: FakeGooglePlay
) -> None:
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
    tmp_path: Path, play: FakeGooglePlay
) -> None:
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
    tmp_path: Path, play: FakeGooglePlay
) -> None:
    plugin = GooglePlayPlugin()
    token, other = play.buy(COINS), play.buy(COINS)
    async with running_daemon(
        tmp_path, config(play, tmp_path), plugins={"googleplay": plugin}
    ) as d:
        paid = await validate(d, token, COINS)
        await validate(d, other, COINS)
        play.void(token)
        play.voided.append({**play.voided[0], "purchaseToken": "unknown", "orderId": "GPA.x"})
        await plugin.voided_poll()
        await plugin.voided_poll()
        assert await counts(d) == {"paid": 1, "refunded": 1}
        assert (await d.runtime.payments.get(paid["id"])).status == "refunded"
        assert any(c.endswith("/voidedpurchases") for c in play.calls)


@pytest.mark.parametrize(
    "forgery",
    [
        "no_token",
        "another_key",
        "expired",
        "wrong_audience",
        "wrong_issuer",
        "wrong_service_account",
        "email_not_verified",
        "not_a_jwt",
        "unknown_kid",
    ],
)
async def test_forged_push_is_401_and_changes_nothing(
    tmp_path: Path, play: FakeGooglePlay, forgery: str
) -> None:
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
    tmp_path: Path, play: FakeGooglePlay
) -> None:
    async with running_daemon(tmp_path, config(play, tmp_path)) as d:
        for body in (
            b"not json",
            b'{"message": {"messageId": "1", "data": "%%%"}}',
            b'{"message": {"data": "e30="}}',
            b"[]",
        ):
            assert await push(d, play, {}, body=body) == 400
        assert await counts(d) == {}


async def test_push_for_another_package_or_a_test_notification_changes_nothing(
    tmp_path: Path, play: FakeGooglePlay
) -> None:
    token = play.subscribe(GOLD)
    async with running_daemon(tmp_path, config(play, tmp_path)) as d:
        assert await push(d, play, sub_note(token, 4, package="com.other.app")) == 200
        assert (
            await push(
                d, play, developer_notification(PACKAGE, testNotification={"version": "1.0"})
            )
            == 200
        )
        assert await counts(d) == {} and play.calls == []


async def test_push_while_google_is_down_is_retried_by_pubsub(
    tmp_path: Path, play: FakeGooglePlay
) -> None:
    token = play.subscribe(GOLD)
    async with running_daemon(tmp_path, config(play, tmp_path)) as d:
        play.fail_with = 500
        assert await push(d, play, sub_note(token, 4), "buy-1") == 503
        assert await counts(d) == {}
        play.fail_with = None
        assert await push(d, play, sub_note(token, 4), "buy-1") == 200
        assert await counts(d) == {"paid": 1} and play.acknowledged == [token]


async def test_test_subscription_reported_by_push_is_not_paid(
    tmp_path: Path, play: FakeGooglePlay
) -> None:
    token = play.subscribe(GOLD, test=True)
    async with running_daemon(tmp_path, config(play, tmp_path)) as d:
        assert await push(d, play, sub_note(token, 4)) == 200
        assert await counts(d) == {} and play.acknowledged == []


async def test_push_body_arriving_in_pieces_is_read_whole(
    tmp_path: Path, play: FakeGooglePlay
) -> None:
    token = play.subscribe(GOLD)
    body = push_body(sub_note(token, 4), "chunked-1")

    async def pieces() -> AsyncIterator[bytes]:
        for i in range(0, len(body), 16):
            yield body[i : i + 16]
            await asyncio.sleep(0.001)

    async with running_daemon(tmp_path, config(play, tmp_path)) as d:
        async with d.session.post(
            d.public_url + "/webhooks/googleplay",
            data=pieces(),
            headers={"Authorization": f"Bearer {play.signer.token(AUDIENCE)}"},
        ) as resp:
            assert resp.status == 200
        assert await counts(d) == {"paid": 1}


async def test_a_subscription_layer_can_take_over_subscription_notifications(
    tmp_path: Path, play: FakeGooglePlay
) -> None:
    seen: list[tuple[int, str, str | None]] = []

    class WithSubscriptions(GooglePlayPlugin):
        async def on_subscription(self, change: SubscriptionChange) -> str:
            seen.append((change.notification_type, change.purchase.state, change.origin.customer))
            return "handled"

    token = play.subscribe(GOLD)
    async with running_daemon(
        tmp_path, config(play, tmp_path), plugins={"googleplay": WithSubscriptions()}
    ) as d:
        await validate(d, token, GOLD, customer="p9")
        play.cancel(token)
        assert await push(d, play, sub_note(token, 3)) == 200
        assert await counts(d) == {"paid": 1}
    assert seen == [(3, "SUBSCRIPTION_STATE_CANCELED", "p9")]


HOSTILE_VALUES: list[Any] = [
    None,
    5,
    -1,
    True,
    "",
    "x",
    "9" * 300,
    [],
    {},
    [1],
    {"a": 1},
    "../../etc",
    "\u0000",
    1e308,
]


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


@pytest.mark.slow
async def test_hostile_notifications_with_a_valid_token_never_fail_the_server(
    tmp_path: Path, play: FakeGooglePlay
) -> None:
    token = play.subscribe(GOLD)
    bought = play.buy(COINS)
    notes = (
        _mutations(sub_note(token, 4))
        + _mutations(one_time_note(bought, 1))
        + _mutations(voided_note({"purchaseToken": bought, "orderId": "GPA.1", "refundType": 1}, 2))
    )
    async with running_daemon(tmp_path, config(play, tmp_path)) as d:
        statuses = {await push(d, play, note) for note in notes}
        assert statuses <= {200, 400}, statuses
        # Only what Google reports counts, whatever the notification says: both purchases
        # are paid (intact fields name them) and neither is refunded (Google voided none).
        assert await counts(d) == {"paid": 2}


async def test_void_or_revocation_google_does_not_confirm_changes_nothing(
    tmp_path: Path, play: FakeGooglePlay
) -> None:
    bought, sub = play.buy(COINS), play.subscribe(GOLD)
    async with running_daemon(tmp_path, config(play, tmp_path)) as d:
        await validate(d, bought, COINS)
        paid_sub = await validate(d, sub, GOLD)
        order = paid_sub["orderId"]
        assert (
            await push(
                d,
                play,
                voided_note({"purchaseToken": bought, "orderId": "GPA.1", "refundType": 1}, 2),
            )
            == 200
        )
        assert (
            await push(
                d, play, voided_note({"purchaseToken": sub, "orderId": order, "refundType": 1}, 1)
            )
            == 200
        )
        assert await push(d, play, sub_note(sub, 12)) == 200
        assert await counts(d) == {"paid": 2}

"""addexternalsubscription, upgradesubscription, cancelsubscription, provider events and
expiry, with itemstate checked at every step (injected clock, no sleeps)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.commerce.media import TRANSPORTS, Clock, media_daemon, ok, refused
from xbtcpay.commerce.media_access.subscription_store import SubPayment

C = {"customer": "user-2"}
DAY = 86400


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def d(tmp_path: Path, clock: Clock) -> Any:
    async with media_daemon(tmp_path, clock) as handle:
        yield handle


async def access(d: Any, item: int = 42) -> dict[str, Any]:
    return dict(await ok(d, "payment.itemstate", {**C, "item": item}))


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_external_subscription_upgrade_and_cancel(
    d: Any, clock: Clock, transport: str
) -> None:
    until = int(clock.now) + 10 * DAY
    added = await ok(
        d, "payment.addexternalsubscription", {**C, "validUntil": until, "isPremium": 0}, transport
    )
    assert isinstance(added["transactionID"], int)
    assert added["subscription"]["product"] == "basic"
    assert (await access(d))["valid_until"] == until
    up = await ok(
        d,
        "payment.upgradesubscription",
        {**C, "transactionID": "pay_upgrade_1", "amount": 500},
        transport,
    )
    assert up["subscription"]["premium"] and up["subscription"]["product"] == "premium"
    assert up["subscription"]["valid_until"] == until  # timings unchanged
    err = await refused(
        d,
        "payment.upgradesubscription",
        {**C, "transactionID": "pay_upgrade_2", "amount": 500},
        transport,
    )
    assert "premium already" in err["message"]
    canceled = await ok(
        d,
        "payment.cancelsubscription",
        {
            **C,
            "transactionID": added["transactionID"],
            "cancelTransaction": 0,
            "skipEmail": 1,
            "reasonText": "moving",
        },
        transport,
    )
    assert canceled["subscription"]["state"] == "canceled"
    assert canceled["subscription"]["will_renew"] is False and canceled["provider"] == "external"
    assert (await access(d))["access"]  # until valid_until
    clock.advance(10 * DAY)
    assert (await access(d))["reason"] == "expired"
    err = await refused(
        d, "payment.cancelsubscription", {**C, "transactionID": added["transactionID"]}, transport
    )
    assert err["code"] == -32023


async def test_cancel_now_ends_access_at_once(d: Any, clock: Clock) -> None:
    added = await ok(
        d, "payment.addexternalsubscription", {**C, "validUntil": int(clock.now) + 30 * DAY}
    )
    done = await ok(
        d,
        "payment.cancelsubscription",
        {**C, "transactionID": added["transactionID"], "immediately": 1},
    )
    assert done["subscription"]["state"] == "terminated"
    state = await access(d)
    assert (state["access"], state["valid_until"]) == (False, int(clock.now))


async def test_external_refusals(d: Any, clock: Clock) -> None:
    for params, text in (
        ({**C}, "missing validUntil"),
        ({**C, "validUntil": int(clock.now) - 1}, "in the future"),
        ({**C, "validUntil": int(clock.now) + 1, "product": "movie42"}, "subscription product"),
        ({**C, "validUntil": 1.5}, "UNIX timestamp"),
    ):
        err = await refused(d, "payment.addexternalsubscription", params)
        assert text in err["message"], err
    err = await refused(d, "payment.upgradesubscription", {**C, "transactionID": "x", "amount": 1})
    assert "no running default subscription" in err["message"]


async def test_late_premium_on_finish(d: Any) -> None:
    tx = (
        await ok(
            d,
            "payment.preparetransaction",
            {
                **C,
                "operation": "subscription",
                "amount": 499,
                "currency": "EUR",
                "provider": "stripe",
            },
        )
    )["transactionID"]
    done = await ok(d, "payment.finishtransaction", {**C, "transactionID": tx, "isLatePremium": 1})
    sub = await d.runtime.media.subscriptions.get(done["subscription"])
    assert sub.premium and sub.product == "premium"


async def test_upgrade_payment_recorded_once(d: Any, clock: Clock) -> None:
    added = await ok(
        d, "payment.addexternalsubscription", {**C, "validUntil": int(clock.now) + DAY}
    )
    await ok(d, "payment.upgradesubscription", {**C, "transactionID": "up-1", "amount": 500})
    sub_id = added["subscription"]["id"]
    history = await d.runtime.media.subscriptions.history(sub_id)
    assert [(p["kind"], p["reference"], p["amount_minor"]) for p in history["payments"]] == [
        ("upgrade", "up-1", 500)
    ]


async def test_provider_events_move_a_subscription_exactly_once(d: Any, clock: Clock) -> None:
    tx = (
        await ok(
            d,
            "payment.preparetransaction",
            {
                **C,
                "operation": "subscription",
                "amount": 499,
                "currency": "EUR",
                "provider": "stripe",
                "reference": "sub_stripe_1",
            },
        )
    )["transactionID"]
    await ok(d, "payment.finishtransaction", {**C, "transactionID": tx})
    subs = d.runtime.media.subscriptions
    clock.advance(27 * DAY)
    pay = SubPayment("renewal", "stripe", "in_1", 499, "EUR")
    first = await subs.provider_event(
        "stripe", "sub_stripe_1", "renewed", event_id="evt_1", payment=pay
    )
    assert first is not None and first.valid_until == (await access(d))["valid_until"]
    assert (
        await subs.provider_event(
            "stripe", "sub_stripe_1", "renewed", event_id="evt_1", payment=pay
        )
        is None
    )
    history = await subs.history(first.id)
    assert [p["kind"] for p in history["payments"]] == ["initial", "renewal"]
    assert (
        await subs.provider_event("stripe", "sub_stripe_1", "terminated", event_id="evt_2")
        is not None
    )
    assert not (await access(d))["access"]
    assert await subs.provider_event("stripe", "unknown", "renewed", event_id="e3") is None


async def test_expiry_job_moves_state(d: Any, clock: Clock) -> None:
    added = await ok(
        d, "payment.addexternalsubscription", {**C, "validUntil": int(clock.now) + DAY}
    )
    clock.advance(DAY)
    # the leader's own expiry job runs the same code and, on a loaded machine, may get there
    # first: either way the subscription is expired exactly once
    assert await d.runtime.media.subscriptions.expire_due() in (0, 1)
    sub = await d.runtime.media.subscriptions.get(added["subscription"]["id"])
    assert sub.state.value == "expired"
    assert (await access(d))["reason"] == "expired"
    assert await d.runtime.media.subscriptions.expire_due() == 0  # nothing left to move


async def test_perform_transaction_registers_the_buy_once(d: Any, clock: Clock) -> None:
    await ok(d, "payment.addexternalsubscription", {**C, "validUntil": int(clock.now) + DAY})
    params = {**C, "item": 42, "streamtype": "video", "performTransactionIfPossible": 1}
    assert (await ok(d, "payment.itemstate", params))["registered"] is True
    assert (await ok(d, "payment.itemstate", params))["registered"] is False
    rows = await d.runtime.db.fetchall("SELECT * FROM item_buys")
    assert len(rows) == 1
    assert "registered" not in await ok(d, "payment.itemstate", {**C, "item": 42})

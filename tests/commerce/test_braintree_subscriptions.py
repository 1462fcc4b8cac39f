"""A subscription bought through Braintree (the real plugin and SDK against the fake
gateway): started by its first charge, renewed by subscription_charged_successfully,
upgraded, canceled at period end (at Braintree too), expired; itemstate at every step."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.commerce.media import Clock, media_daemon, ok, refused
from tests.fakes.braintree_server import FakeBraintree

DAY = 86400
C = {"customer": "bt-user"}


@pytest.fixture
async def fake() -> AsyncIterator[FakeBraintree]:
    f = FakeBraintree()
    f.add_plan("plan-basic", "4.99")
    await f.start()
    yield f
    await f.stop()


def braintree_config(fake: FakeBraintree) -> dict[str, Any]:
    return {
        "plugins": {
            "braintree": {
                "environment": "custom",
                "gateway_url": fake.gateway_url,
                "merchant_id": fake.merchant_id,
                "public_key": fake.public_key,
                "private_key": fake.private_key,
                "reconcile_interval": 3600,
            }
        },
        "products": {"basic": {"braintree_plan": "plan-basic", "prices": {"USD": "4.99"}}},
    }


async def item(d: Any) -> dict[str, Any]:
    return dict(await ok(d, "payment.itemstate", {**C, "item": 42}))


async def test_braintree_subscription_lifecycle(tmp_path: Path, fake: FakeBraintree) -> None:
    clock = Clock(time.time())
    async with media_daemon(tmp_path, clock, braintree_config(fake)) as d:
        bridge = d.runtime.media.bridge
        bought = await ok(
            d,
            "payment.processBraintreePayment",
            {**C, "paymentNonce": "fake-valid-nonce", "product": "basic", "currency": "USD"},
        )
        assert bought["status"] == "success", bought
        sub_ref = fake.transactions[bought["transactionId"]]["subscription_id"]
        assert await bridge.run_once() == 1  # the first charge starts it
        [sub] = await d.runtime.media.subscriptions.for_customer("bt-user")
        assert (sub.provider, sub.provider_ref, sub.state.value) == ("braintree", sub_ref, "active")
        first_end = sub.valid_until
        assert (await item(d))["valid_until"] == first_end

        clock.advance(29 * DAY)
        assert (
            await fake.deliver(
                f"{d.public_url}/webhooks/braintree", fake.charge_subscription(sub_ref)
            )
            == 200
        )
        assert await fake.redeliver() == 200  # Braintree retries
        assert await bridge.run_once() == 1
        assert await bridge.run_once() == 0
        renewed = await d.runtime.media.subscriptions.get(sub.id)
        assert renewed.periods == 2 and renewed.valid_until > first_end
        assert (await item(d))["valid_until"] == renewed.valid_until
        history = await d.runtime.media.subscriptions.history(sub.id)
        assert [p["kind"] for p in history["payments"]] == ["initial", "renewal"]

        up = await ok(
            d,
            "payment.upgradesubscription",
            {**C, "transactionID": "bt-upgrade-1", "amount": 500, "currency": "USD"},
        )
        assert (
            up["subscription"]["premium"]
            and up["subscription"]["valid_until"] == renewed.valid_until
        )

        # canceled in Braintree's control panel: its webhook stops the renewals
        notice = fake.cancel_by_merchant(sub_ref)
        assert await fake.deliver(f"{d.public_url}/webhooks/braintree", notice) == 200
        after = await d.runtime.media.subscriptions.get(sub.id)
        assert after.state.value == "canceled" and not after.will_renew
        assert (await item(d))["access"]  # until valid_until
        assert await fake.deliver(f"{d.public_url}/webhooks/braintree", notice) == 200
        clock.advance(renewed.valid_until - clock.now)
        state = await item(d)
        assert (state["access"], state["reason"]) == (False, "expired")


async def test_cancel_at_period_end_cancels_at_braintree(
    tmp_path: Path, fake: FakeBraintree
) -> None:
    clock = Clock(time.time())
    async with media_daemon(tmp_path, clock, braintree_config(fake)) as d:
        bought = await ok(
            d,
            "payment.processBraintreePayment",
            {**C, "paymentNonce": "fake-valid-nonce", "product": "basic", "currency": "USD"},
        )
        sub_ref = fake.transactions[bought["transactionId"]]["subscription_id"]
        tx = (
            await ok(
                d,
                "payment.preparetransaction",
                {
                    **C,
                    "operation": "subscription",
                    "product": "basic",
                    "amount": 499,
                    "currency": "EUR",
                    "provider": "braintree",
                    "reference": sub_ref,
                },
            )
        )["transactionID"]
        await ok(d, "payment.finishtransaction", {**C, "transactionID": tx})
        assert await d.runtime.media.bridge.run_once() == 0  # already recorded: no twin
        assert len(await d.runtime.media.subscriptions.for_customer("bt-user")) == 1
        done = await ok(
            d, "payment.cancelsubscription", {**C, "transactionID": tx, "cancelTransaction": 0}
        )
        assert (
            done["provider"] == "canceled" and fake.subscriptions[sub_ref]["status"] == "Canceled"
        )
        assert (await item(d))["access"]
        err = await refused(d, "payment.cancelsubscription", {**C, "transactionID": tx})
        assert err["code"] == -32023
        expired = fake.notification(
            "subscription_expired", "subscription", fake.subscriptions[sub_ref]
        )
        assert await fake.deliver(f"{d.public_url}/webhooks/braintree", expired) == 200
        [sub] = await d.runtime.media.subscriptions.for_customer("bt-user")
        assert sub.state.value == "expired"
        assert (await item(d))["access"] is False


async def test_cancel_now_ends_access_and_billing(tmp_path: Path, fake: FakeBraintree) -> None:
    clock = Clock(time.time())
    async with media_daemon(tmp_path, clock, braintree_config(fake)) as d:
        bought = await ok(
            d,
            "payment.processBraintreePayment",
            {**C, "paymentNonce": "fake-valid-nonce", "product": "basic", "currency": "USD"},
        )
        sub_ref = fake.transactions[bought["transactionId"]]["subscription_id"]
        tx = (
            await ok(
                d,
                "payment.preparetransaction",
                {
                    **C,
                    "operation": "subscription",
                    "product": "basic",
                    "amount": 499,
                    "currency": "EUR",
                    "provider": "braintree",
                    "reference": sub_ref,
                },
            )
        )["transactionID"]
        await ok(d, "payment.finishtransaction", {**C, "transactionID": tx})
        done = await ok(
            d, "payment.cancelsubscription", {**C, "transactionID": tx, "immediately": 1}
        )
        assert done["subscription"]["state"] == "terminated" and done["provider"] == "canceled"
        assert fake.subscriptions[sub_ref]["status"] == "Canceled"
        state = await item(d)
        assert (state["access"], state["valid_until"]) == (False, int(clock.now))
        # Braintree's own notice of the cancellation changes nothing more
        assert (
            await fake.deliver(
                f"{d.public_url}/webhooks/braintree", fake.cancel_by_merchant(sub_ref)
            )
            == 200
        )
        [sub] = await d.runtime.media.subscriptions.for_customer("bt-user")
        assert sub.state.value == "terminated"

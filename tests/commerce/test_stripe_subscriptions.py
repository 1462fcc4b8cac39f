"""A subscription sold through Stripe (prepare/finish with the Stripe subscription id as the
reference), moved by Stripe's signed webhooks through the real plugin: invoice.paid renews
(once, however often delivered), upgrade, cancel_at_period_end, deletion ends it now;
itemstate at every step (injected clock)."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.commerce.media import Clock, media_daemon, ok
from tests.fakes.stripe_server import FakeStripe, sign

DAY = 86400
C = {"customer": "stripe-user"}


@pytest.fixture
async def fake() -> AsyncIterator[FakeStripe]:
    f = FakeStripe()
    await f.start()
    yield f
    await f.stop()


def stripe_config(fake: FakeStripe) -> dict[str, Any]:
    return {
        "plugins": {
            "stripe": {
                "api_key": fake.api_key,
                "webhook_secret": fake.webhook_secret,
                "api_base": fake.url,
                "max_network_retries": 0,
                "reconcile_interval": 3600,
            }
        }
    }


async def deliver(d: Any, fake: FakeStripe, event: dict[str, Any]) -> dict[str, Any]:
    payload = json.dumps(event)
    async with d.session.post(
        f"{d.public_url}/webhooks/stripe",
        data=payload,
        headers={
            "Stripe-Signature": sign(payload, fake.webhook_secret),
            "Content-Type": "application/json",
        },
    ) as resp:
        assert resp.status == 200
        return dict(await resp.json())


def event(event_id: str, kind: str, obj: dict[str, Any], **data: Any) -> dict[str, Any]:
    return {
        "id": event_id,
        "object": "event",
        "type": kind,
        "api_version": "2024-06-20",
        "created": int(time.time()),
        "data": {"object": obj, **data},
    }


def invoice(invoice_id: str, sub: str, reason: str = "subscription_cycle") -> dict[str, Any]:
    return {
        "id": invoice_id,
        "object": "invoice",
        "billing_reason": reason,
        "subscription": sub,
        "amount_paid": 499,
        "currency": "eur",
        "status": "paid",
    }


async def item(d: Any) -> dict[str, Any]:
    return dict(await ok(d, "payment.itemstate", {**C, "item": 42}))


async def test_stripe_subscription_lifecycle(tmp_path: Path, fake: FakeStripe) -> None:
    clock = Clock()
    async with media_daemon(tmp_path, clock, stripe_config(fake)) as d:
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
                    "reference": "sub_S1",
                },
            )
        )["transactionID"]
        await ok(d, "payment.finishtransaction", {**C, "transactionID": tx, "token": "pm_1"})
        first_end = (await item(d))["valid_until"]
        assert first_end == int(clock.now) + 28 * DAY  # 31 Jan -> 28 Feb

        first = await deliver(
            d,
            fake,
            event("evt_0", "invoice.paid", invoice("in_0", "sub_S1", "subscription_create")),
        )
        assert first["outcome"] == "ignored"  # the purchase itself
        clock.advance(27 * DAY)
        renewal = event("evt_1", "invoice.paid", invoice("in_1", "sub_S1"))
        assert (await deliver(d, fake, renewal))["outcome"] == "applied"
        assert (await deliver(d, fake, renewal))["outcome"] == "ignored"  # redelivered
        assert (await item(d))["valid_until"] == first_end + 31 * DAY  # -> 31 March

        await ok(
            d,
            "payment.upgradesubscription",
            {**C, "transactionID": "in_up", "amount": 500, "currency": "EUR"},
        )
        sub_obj = {"id": "sub_S1", "object": "subscription", "cancel_at_period_end": True}
        updated = event(
            "evt_2",
            "customer.subscription.updated",
            sub_obj,
            previous_attributes={"cancel_at_period_end": False},
        )
        assert (await deliver(d, fake, updated))["outcome"] == "applied"
        state = await item(d)
        assert state["access"] and state["valid_until"] == first_end + 31 * DAY
        [sub] = await d.runtime.media.subscriptions.for_customer("stripe-user")
        assert (sub.state.value, sub.premium, sub.will_renew) == ("canceled", True, False)

        clock.advance(DAY)
        deleted = event("evt_3", "customer.subscription.deleted", {**sub_obj, "status": "canceled"})
        assert (await deliver(d, fake, deleted))["outcome"] == "applied"
        state = await item(d)
        assert (state["access"], state["valid_until"]) == (False, int(clock.now))
        history = await d.runtime.media.subscriptions.history(sub.id)
        assert [p["kind"] for p in history["payments"]] == ["initial", "renewal", "upgrade"]
        numbers = [p["receipt_number"] for p in history["payments"]]
        assert all(numbers) and len(set(numbers)) == 3  # each payment its own receipt
        renewal_receipt = await ok(d, "receipt.get", {"number": numbers[1]})
        assert renewal_receipt["total"] == "4.99"
        assert [e["event"] for e in history["events"]] == [
            "create",
            "finish",
            "renew",
            "upgrade",
            "cancel",
            "terminate",
        ]


async def test_cancel_now_through_the_media_access_api_then_stripe_deletion_changes_nothing(
    tmp_path: Path, fake: FakeStripe
) -> None:
    clock = Clock()
    async with media_daemon(tmp_path, clock, stripe_config(fake)) as d:
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
                    "reference": "sub_S2",
                },
            )
        )["transactionID"]
        await ok(d, "payment.finishtransaction", {**C, "transactionID": tx})
        done = await ok(
            d, "payment.cancelsubscription", {**C, "transactionID": tx, "immediately": 1}
        )
        assert done["provider"] == "not_connected"
        assert (await item(d))["access"] is False
        deleted = event("evt_9", "customer.subscription.deleted", {"id": "sub_S2"})
        assert (await deliver(d, fake, deleted))["outcome"] == "ignored"


async def test_same_invoice_paid_under_a_new_event_id_is_recorded_once(
    tmp_path: Path, fake: FakeStripe
) -> None:
    clock = Clock()
    async with media_daemon(tmp_path, clock, stripe_config(fake)) as d:
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
                    "reference": "sub_S3",
                },
            )
        )["transactionID"]
        await ok(d, "payment.finishtransaction", {**C, "transactionID": tx, "token": "pm_1"})
        clock.advance(27 * DAY)
        paid = invoice("in_7", "sub_S3")
        assert (await deliver(d, fake, event("evt_a", "invoice.paid", paid)))[
            "outcome"
        ] == "applied"
        renewed_until = (await item(d))["valid_until"]
        again = await deliver(d, fake, event("evt_b", "invoice.paid", paid))  # 2xx, not 500
        assert again["outcome"] in ("ignored", "duplicate")
        assert (await item(d))["valid_until"] == renewed_until  # not renewed twice
        [sub] = await d.runtime.media.subscriptions.for_customer("stripe-user")
        history = await d.runtime.media.subscriptions.history(sub.id)
        assert [p["reference"] for p in history["payments"] if p["kind"] == "renewal"] == ["in_7"]
        assert [e["event"] for e in history["events"]].count("renew") == 1

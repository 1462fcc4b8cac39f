"""The Stripe plugin in a real daemon, with the real stripe SDK against the fake Stripe API."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from xbtcpay_stripe.events import fact_of
from xbtcpay_stripe.money import from_minor, to_minor

from tests.fakes.stripe_server import FakeStripe, decode_form, sign
from tests.harness import PostbackReceiver, running_daemon, wait_until
from xbtcpay.core.errors import PluginError
from xbtcpay.core.state import Event

PRODUCTS = {
    "gold": {"type": "one_time", "prices": {"USD": "9.99"}, "name": "Gold pack"},
    "priced": {"type": "one_time", "prices": {"USD": "20.00"}, "stripe_price": "price_20"},
    "mispriced": {"type": "one_time", "prices": {"USD": "5.00"}, "stripe_price": "price_20"},
    "monthly": {"type": "subscription", "prices": {"USD": "4.99"}, "braintree_plan": "m"},
}


@pytest.fixture
async def fake() -> AsyncIterator[FakeStripe]:
    f = FakeStripe(prices={"price_20": {"unit_amount": 2000, "currency": "usd"}})
    await f.start()
    yield f
    await f.stop()


def overrides(fake: FakeStripe, **settings: Any) -> dict[str, Any]:
    section = {
        "api_key": fake.api_key,
        "webhook_secret": fake.webhook_secret,
        "api_base": fake.url,
        "max_network_retries": 0,
        "reconcile_interval": 3600,
        **settings,
    }
    return {"plugins": {"stripe": section}, "products": PRODUCTS}


async def checkout(d: Any, postback_url: str | None = None, **params: Any) -> dict[str, Any]:
    body = {
        "product": "gold",
        "successUrl": "https://shop.example/ok?s={CHECKOUT_SESSION_ID}",
        "cancelUrl": "https://shop.example/cancel",
        "data": {"cart": [1, 2]},
        **params,
    }
    if postback_url:
        body["postback_url"] = postback_url
    reply = await d.call("payment.createStripeCheckoutSession", body)
    assert "result" in reply, reply
    return dict(reply["result"])


def hook(d: Any) -> str:
    return f"{d.public_url}/webhooks/stripe"


async def events_of(d: Any, pid: str) -> list[dict[str, Any]]:
    return list(await d.runtime.payments.events(pid))


async def test_checkout_paid_by_signed_webhook(
    tmp_path: Path, fake: FakeStripe, receiver: PostbackReceiver
) -> None:
    async with running_daemon(tmp_path, overrides(fake)) as d:
        got = await checkout(d, receiver.url, customer="user-42")
        session = fake.sessions[got["sessionId"]]
        assert got["url"] == session["url"] and got["id"] == session["client_reference_id"]
        assert session["metadata"] == {
            "payment_id": got["id"],
            "product": "gold",
            "customer": "user-42",
        }
        create = next(r for r in fake.requests if r["method"] == "POST")
        assert create["headers"]["Idempotency-Key"] == f"xbtcpay-checkout-{got['id']}"
        item = create["params"]["line_items"][0]
        assert item["price_data"] == {
            "currency": "usd",
            "unit_amount": "999",
            "product_data": {"name": "Gold pack"},
        }
        assert (await d.status(got["id"]))[1]["status"] == "new"

        assert await fake.deliver(hook(d), fake.complete(got["sessionId"])) == 200
        [postback] = await receiver.wait_for(1)
        body = postback["json"]
        assert body["event"] == "paid" and body["id"] == got["id"] and body["method"] == "stripe"
        assert body["amount"] == "9.99" and body["amount_received"] == "9.99"
        assert json.loads(body["data"]) == {"cart": [1, 2]} and body["customer"] == "user-42"
        status, doc = await d.status(got["id"])
        assert status == 200 and doc["status"] == "paid" and doc["paid_at"] is not None

        before = await events_of(d, got["id"])
        assert await fake.redeliver(hook(d)) == 200
        assert await events_of(d, got["id"]) == before
        assert len(receiver.received) == 1


async def test_forged_stale_and_wrong_secret_webhooks_are_refused(
    tmp_path: Path, fake: FakeStripe
) -> None:
    async with running_daemon(tmp_path, overrides(fake)) as d:
        got = await checkout(d)
        event = fake.complete(got["sessionId"])
        payload = json.dumps(event)
        good = sign(payload, fake.webhook_secret)
        tampered = payload.replace('"paid"', '"paid" ', 1)
        attempts = [
            (payload, sign(payload, "whsec_someone_else")),  # wrong secret
            (payload, sign(payload, fake.webhook_secret, int(time.time()) - 301)),  # stale
            (tampered, good),  # body changed
            (payload, None),  # no header
            (payload, "t=abc,v1=zz"),  # garbage
        ]
        for body, header in attempts:
            assert await fake.send(hook(d), body, header) == 400
        assert (await d.status(got["id"]))[1]["status"] == "new"
        assert [e["event"] for e in await events_of(d, got["id"])] == ["created"]
        # The genuine one, 299 s old, still passes: tolerance is 300 s.
        fresh = sign(payload, fake.webhook_secret, int(time.time()) - 299)
        assert await fake.send(hook(d), payload, fresh) == 200
        assert (await d.status(got["id"]))[1]["status"] == "paid"


async def test_a_signed_event_created_in_the_future_is_refused(
    tmp_path: Path, fake: FakeStripe
) -> None:
    async with running_daemon(tmp_path, overrides(fake)) as d:
        got = await checkout(d)
        event = fake.complete(got["sessionId"])
        # Correctly signed now, but stamped an hour ahead: beyond the 300 s tolerance.
        future = json.dumps({**event, "created": int(time.time()) + 3600})
        assert await fake.send(hook(d), future, sign(future, fake.webhook_secret)) == 400
        assert (await d.status(got["id"]))[1]["status"] == "new"
        assert [e["event"] for e in await events_of(d, got["id"])] == ["created"]
        now = json.dumps({**event, "created": int(time.time())})
        assert await fake.send(hook(d), now, sign(now, fake.webhook_secret)) == 200
        assert (await d.status(got["id"]))[1]["status"] == "paid"


async def test_delayed_payment_method_seen_then_paid_or_failed(
    tmp_path: Path, fake: FakeStripe
) -> None:
    async with running_daemon(tmp_path, overrides(fake)) as d:
        ok, bad = await checkout(d), await checkout(d)
        for got in (ok, bad):
            await fake.deliver(hook(d), fake.complete(got["sessionId"], paid=False))
            status = (await d.status(got["id"]))[1]
            assert status["status"] == "seen" and status["paid_at"] is None
        await fake.deliver(hook(d), fake.async_succeed(ok["sessionId"]))
        await fake.deliver(hook(d), fake.async_fail(bad["sessionId"]))
        assert (await d.status(ok["id"]))[1]["status"] == "paid"
        failed = await d.runtime.payments.get(bad["id"])
        assert failed.status == "failed" and failed.reason == "async payment failed"


async def test_expiry_refunds_and_disputes(
    tmp_path: Path, fake: FakeStripe, receiver: PostbackReceiver
) -> None:
    async with running_daemon(tmp_path, overrides(fake)) as d:
        gone = await checkout(d)
        await fake.deliver(hook(d), fake.expire(gone["sessionId"]))
        assert (await d.status(gone["id"]))[1]["status"] == "expired"

        refunded, disputed = await checkout(d, receiver.url), await checkout(d, receiver.url)
        for got in (refunded, disputed):
            await fake.deliver(hook(d), fake.complete(got["sessionId"]))
        await fake.deliver(hook(d), fake.refund(refunded["sessionId"], 300))
        partial = await d.runtime.payments.get(refunded["id"])
        assert partial.status == "partially_refunded"
        assert partial.amount_refunded == Decimal("3.00")
        await fake.deliver(hook(d), fake.refund(refunded["sessionId"]))
        full = await d.runtime.payments.get(refunded["id"])
        assert full.status == "refunded" and full.amount_refunded == Decimal("9.99")

        await fake.deliver(hook(d), fake.dispute(disputed["sessionId"]))
        dispute = await d.runtime.payments.get(disputed["id"])
        assert dispute.status == "disputed" and dispute.reason == "fraudulent"
        await receiver.wait_for(5)
        assert [r["json"]["event"] for r in receiver.received].count("partially_refunded") == 1
        assert {"refunded", "disputed"} <= {r["json"]["event"] for r in receiver.received}


async def test_unknown_events_are_acknowledged_and_ignored(
    tmp_path: Path, fake: FakeStripe
) -> None:
    async with running_daemon(tmp_path, overrides(fake)) as d:
        event = fake.other_event("customer.created")
        assert await fake.deliver(hook(d), event) == 200
        assert await d.runtime.payments.count_by_status() == {}


async def test_missed_webhook_is_healed_by_reconciliation(tmp_path: Path, fake: FakeStripe) -> None:
    async with running_daemon(
        tmp_path, overrides(fake, reconcile_interval=0.1, reconcile_after=0)
    ) as d:
        got = await checkout(d)
        await wait_until(lambda: any(r["method"] == "GET" for r in fake.requests))
        assert (await d.status(got["id"]))[1]["status"] == "new"
        fake.complete(got["sessionId"])  # the webhook never arrives
        paid = await wait_until(lambda: _paid(d, got["id"]), timeout=5)
        assert paid.extra["stripe_session"] == got["sessionId"]
        # The late webhook changes nothing.
        before = await events_of(d, got["id"])
        assert await fake.deliver(hook(d), fake.async_succeed(got["sessionId"])) == 200
        assert await events_of(d, got["id"]) == before


async def test_reconciliation_finds_sessions_after_a_restart(
    tmp_path: Path, fake: FakeStripe
) -> None:
    async with running_daemon(tmp_path, overrides(fake)) as d:
        got = await checkout(d)
    fake.complete(got["sessionId"])
    other = await _other_session(fake, created=fake.sessions[got["sessionId"]]["created"] + 1)
    fake.expire(other)
    async with running_daemon(
        tmp_path, overrides(fake, reconcile_interval=0.1, reconcile_after=0)
    ) as d:
        paid = await wait_until(lambda: _paid(d, got["id"]), timeout=5)
        assert paid.provider_ref == fake.sessions[got["sessionId"]]["payment_intent"]
        assert paid.extra["stripe_session"] == got["sessionId"]
        lists = [
            r
            for r in fake.requests
            if r["path"] == "/v1/checkout/sessions" and r["method"] == "GET"
        ]
        assert lists and "created" in lists[0]["params"]
        # The other session was listed first (newest first) and left alone.
        retrieved = [r["path"] for r in fake.requests if r["method"] == "GET"]
        assert f"/v1/checkout/sessions/{other}" not in retrieved
        assert await d.runtime.payments.count_by_status() == {"paid": 1}


async def _other_session(fake: FakeStripe, created: int) -> str:
    """A session of someone else created just after ours (must not be matched)."""
    other = {
        "id": "cs_test_other",
        "client_reference_id": "not-ours",
        "created": created,
        "status": "open",
        "payment_status": "unpaid",
        "metadata": {},
        "url": None,
        "amount_total": 999,
        "currency": "usd",
        "payment_intent": None,
    }
    fake.sessions["cs_test_other"] = other
    return "cs_test_other"


async def _paid(d: Any, pid: str) -> Any:
    payment = await d.runtime.payments.get(pid)
    return payment if payment.status == "paid" else None


async def test_bad_requests_and_provider_failures(tmp_path: Path, fake: FakeStripe) -> None:
    async with running_daemon(tmp_path, overrides(fake)) as d:
        base = {"successUrl": "https://s.example/ok", "cancelUrl": "https://s.example/no"}
        cases = [
            {**base, "product": "nope"},
            {**base, "product": "gold", "amount": "1.00"},
            {"product": "gold", "cancelUrl": "https://s.example/no"},
            {**base, "product": "gold", "successUrl": "javascript:alert(1)"},
            {**base, "product": "monthly"},
            {**base, "product": "buying_increase_balance", "amount": 0.5},
        ]
        for params in cases:
            reply = await d.call("payment.createStripeCheckoutSession", params)
            assert reply["error"]["code"] == -32602, (params, reply)
        assert await d.runtime.payments.count_by_status() == {}

        fake.fail_next.append(500)
        reply = await d.call("payment.createStripeCheckoutSession", {**base, "product": "gold"})
        assert reply["error"]["code"] == -32010
        assert "Stripe refused the checkout session" in reply["error"]["message"]
        assert fake.api_key not in json.dumps(reply)
        assert await d.runtime.payments.count_by_status() == {"failed": 1}

        reply = await d.call(
            "payment.createStripeCheckoutSession", {**base, "product": "mispriced"}
        )
        assert reply["error"]["code"] == -32010 and "catalog" in reply["error"]["message"]


async def test_stripe_price_top_up_and_three_transports(tmp_path: Path, fake: FakeStripe) -> None:
    async with running_daemon(tmp_path, overrides(fake)) as d:
        base = {"successUrl": "https://s.example/ok", "cancelUrl": "https://s.example/no"}
        priced = await checkout(d, product="priced")
        assert fake.sessions[priced["sessionId"]]["amount_total"] == 2000
        create = [r for r in fake.requests if r["method"] == "POST"][-1]
        assert create["params"]["line_items"] == [{"price": "price_20", "quantity": "1"}]

        # A JSON number as the seed's clients send it: it arrives as an exact Decimal.
        raw = json.dumps({**base, "product": "buying_increase_balance"})[:-1] + ', "amount": 12.5}'
        async with d.session.post(
            f"{d.rpc_url}/api/v0/rpc/payment.createStripeCheckoutSession",
            data=raw,
            headers={"Content-Type": "application/json"},
        ) as resp:
            http = await resp.json()
        assert http["error"]["status"] is False, http
        top_up = await d.runtime.payments.get(http["data"]["id"])
        assert top_up.amount == Decimal("12.5") and top_up.asset == "USD"
        assert fake.sessions[http["data"]["sessionId"]]["amount_total"] == 1250

        ws = await d.ws_call("payment:createStripeCheckoutSession", {**base, "product": "gold"})
        assert ws["error"]["status"] is False and ws["data"]["url"].startswith("https://")


def test_minor_units_are_exact() -> None:
    assert to_minor(Decimal("9.99"), "USD") == 999 and to_minor(Decimal(500), "jpy") == 500
    assert from_minor(1250, "usd") == Decimal("12.50") and from_minor(7, "KWD") == Decimal("0.007")
    with pytest.raises(ValueError):
        to_minor(Decimal("1.001"), "usd")
    with pytest.raises(ValueError):
        to_minor(Decimal("1.5"), "jpy")


def test_event_mapping() -> None:
    session = {
        "id": "cs_1",
        "client_reference_id": "p1",
        "metadata": {"payment_id": "p1"},
        "payment_intent": "pi_1",
        "amount_total": 999,
        "currency": "usd",
    }

    def event(kind: str, obj: dict[str, Any]) -> Any:
        return fact_of({"id": "evt_1", "type": kind, "data": {"object": obj}})

    paid = event("checkout.session.completed", {**session, "payment_status": "paid"})
    assert paid.event.kind == Event.PAID and paid.event.amount_received == Decimal("9.99")
    assert paid.payment_id == "p1" and paid.event.provider_ref == "pi_1"
    assert paid.event.dedupe_key == "stripe:evt_1"
    unpaid = event("checkout.session.completed", {**session, "payment_status": "unpaid"})
    assert unpaid.event.kind == Event.SEEN and unpaid.event.amount_received is None
    charge = {
        "id": "ch_1",
        "payment_intent": "pi_1",
        "amount": 999,
        "currency": "usd",
        "metadata": {},
    }
    part = event("charge.refunded", {**charge, "amount_refunded": 100, "refunded": False})
    assert part.event.kind == Event.PARTIALLY_REFUNDED
    assert part.event.amount_refunded == Decimal("1.00") and part.payment_intent == "pi_1"
    full = event("charge.refunded", {**charge, "amount_refunded": 999, "refunded": True})
    assert full.event.kind == Event.REFUNDED
    lost = event("charge.dispute.closed", {"id": "dp", "status": "lost", "payment_intent": "pi"})
    assert lost.event.kind == Event.CHARGED_BACK
    assert event("charge.dispute.closed", {"status": "warning_closed"}) is None
    assert event("invoice.paid", session) is None


def test_fake_decodes_stripe_form_encoding() -> None:
    body = "a[0][b]=1&a[1][b]=2&m[k]=v&x="
    assert decode_form(body) == {"a": [{"b": "1"}, {"b": "2"}], "m": {"k": "v"}, "x": ""}


@pytest.mark.parametrize(
    "broken",
    [
        {"api_key": None},
        {"api_key": "pk_test_publishable"},
        {"webhook_secret": "not-a-secret"},
        {"api_base": "ftp://stripe"},
        {"reconcile_interval": 0},
    ],
)
async def test_bad_settings_stop_start_up(
    tmp_path: Path, fake: FakeStripe, broken: dict[str, Any]
) -> None:
    section = {**overrides(fake)["plugins"]["stripe"], **broken}
    with pytest.raises(PluginError):
        async with running_daemon(tmp_path, {"plugins": {"stripe": section}}):
            pass


async def test_secrets_from_the_environment(
    tmp_path: Path, fake: FakeStripe, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_STRIPE_KEY", fake.api_key)
    section = {**overrides(fake)["plugins"]["stripe"], "api_key": {"env": "TEST_STRIPE_KEY"}}
    async with running_daemon(
        tmp_path, {"plugins": {"stripe": section}, "products": PRODUCTS}
    ) as d:
        assert "sessionId" in await checkout(d)


async def test_concurrent_redeliveries_apply_once(
    tmp_path: Path, fake: FakeStripe, receiver: PostbackReceiver
) -> None:
    async with running_daemon(tmp_path, overrides(fake)) as d:
        got = await checkout(d, receiver.url)
        await fake.deliver(hook(d), fake.complete(got["sessionId"]))
        await receiver.wait_for(1)
        statuses = await asyncio.gather(*[fake.redeliver(hook(d)) for _ in range(5)])
        assert statuses == [200] * 5
        assert [e["event"] for e in await events_of(d, got["id"])] == ["created", "paid"]
        rows = await d.runtime.db.fetchall("SELECT event FROM postbacks")
        assert [tuple(r) for r in rows] == [("paid",)]

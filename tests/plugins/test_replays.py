"""Provider events delivered again after the state moved on, and duplicates delivered at once.

The state table alone cannot refuse these: a dispute opened again after it was won is a valid
``paid -> disputed`` step, a partial refund again is a valid self-loop that would set the
refunded amount back. Only the event's dedupe key (provider event id, transaction id, dispute
id) stops them, so each case checks that nothing changed and nothing was posted: the event
log, the payment row and the postback queue (written in the same transaction as any event).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.apple import AppleChain, AppleSigner
from tests.fakes.braintree_server import FakeBraintree
from tests.fakes.stripe_server import FakeStripe
from tests.fakes.verify_receipt_server import VerifyReceiptServer
from tests.harness import PostbackReceiver, running_daemon
from tests.plugins import test_appstore as appstore
from tests.plugins import test_braintree as braintree
from tests.plugins import test_inapp as inapp
from tests.plugins import test_stripe as stripe
from tests.plugins.drivers.appstore import BUNDLE_ID
from tests.plugins.drivers.inapp import CHARGEBACK_TYP, notice, read_request

COPIES = 5


async def snapshot(d: Any) -> tuple[Any, ...]:
    """Everything a replay could touch: events, payments (all columns), postbacks."""
    db = d.runtime.db
    events = await db.fetchall(
        "SELECT event_id, payment_id, event, dedupe_key FROM payment_events ORDER BY seq"
    )
    payments = await db.fetchall("SELECT * FROM payments ORDER BY id")
    postbacks = await db.fetchall("SELECT event_id, event FROM postbacks ORDER BY id")
    return tuple([tuple(r) for r in rows] for rows in (events, payments, postbacks))


@pytest.fixture
async def fake_stripe() -> AsyncIterator[FakeStripe]:
    f = FakeStripe()
    await f.start()
    yield f
    await f.stop()


@pytest.fixture
async def fake_braintree() -> AsyncIterator[FakeBraintree]:
    f = FakeBraintree()
    f.add_plan("plan-m", "4.99")
    await f.start()
    yield f
    await f.stop()


# -- Stripe ---------------------------------------------------------------------------------


async def test_stripe_dispute_replayed_after_it_was_won(
    tmp_path: Path, fake_stripe: FakeStripe, receiver: PostbackReceiver
) -> None:
    async with running_daemon(tmp_path, stripe.overrides(fake_stripe)) as d:
        got = await stripe.checkout(d, receiver.url)
        await fake_stripe.deliver(stripe.hook(d), fake_stripe.complete(got["sessionId"]))
        opened = fake_stripe.dispute(got["sessionId"])
        assert await fake_stripe.deliver(stripe.hook(d), opened) == 200
        assert (
            await fake_stripe.deliver(stripe.hook(d), fake_stripe.close_dispute(got["sessionId"]))
            == 200
        )
        assert (await d.runtime.payments.get(got["id"])).status == "paid"
        before = await snapshot(d)
        assert await fake_stripe.deliver(stripe.hook(d), opened) == 200
        assert await snapshot(d) == before
        assert (await d.runtime.payments.get(got["id"])).status == "paid"


async def test_stripe_partial_refund_replayed_after_a_later_one(
    tmp_path: Path, fake_stripe: FakeStripe, receiver: PostbackReceiver
) -> None:
    async with running_daemon(tmp_path, stripe.overrides(fake_stripe)) as d:
        got = await stripe.checkout(d, receiver.url)
        await fake_stripe.deliver(stripe.hook(d), fake_stripe.complete(got["sessionId"]))
        first = fake_stripe.refund(got["sessionId"], 100)
        assert await fake_stripe.deliver(stripe.hook(d), first) == 200
        assert (
            await fake_stripe.deliver(stripe.hook(d), fake_stripe.refund(got["sessionId"], 200))
            == 200
        )
        assert (await d.runtime.payments.get(got["id"])).amount_refunded == Decimal("3.00")
        before = await snapshot(d)
        assert await fake_stripe.deliver(stripe.hook(d), first) == 200
        assert await snapshot(d) == before
        payment = await d.runtime.payments.get(got["id"])
        assert (payment.status, payment.amount_refunded) == ("partially_refunded", Decimal("3.00"))


async def test_stripe_concurrent_duplicate_partial_refunds_apply_once(
    tmp_path: Path, fake_stripe: FakeStripe, receiver: PostbackReceiver
) -> None:
    async with running_daemon(tmp_path, stripe.overrides(fake_stripe)) as d:
        got = await stripe.checkout(d, receiver.url)
        await fake_stripe.deliver(stripe.hook(d), fake_stripe.complete(got["sessionId"]))
        refund = fake_stripe.refund(got["sessionId"], 100)
        statuses = await asyncio.gather(
            *[fake_stripe.deliver(stripe.hook(d), refund) for _ in range(COPIES)]
        )
        assert statuses == [200] * COPIES
        events = [e["event"] for e in await d.runtime.payments.events(got["id"])]
        assert events.count("partially_refunded") == 1
        postbacks = [row[1] for row in (await snapshot(d))[2]]
        assert postbacks.count("partially_refunded") == 1


# -- Braintree ------------------------------------------------------------------------------


async def test_braintree_dispute_replayed_after_it_was_won(
    tmp_path: Path, fake_braintree: FakeBraintree
) -> None:
    fake = fake_braintree
    async with running_daemon(tmp_path, braintree.overrides(fake)) as d:
        got = await braintree.pay(d, postback_url="http://127.0.0.1:1/pb")
        opened = fake.open_dispute(got["transactionId"])
        assert await fake.deliver(braintree.hook(d), opened) == 200
        won = fake.open_dispute(got["transactionId"], status="won")
        assert await fake.deliver(braintree.hook(d), won) == 200
        assert (await braintree.payment(d, got["id"])).status == "paid"
        before = await snapshot(d)
        assert await fake.deliver(braintree.hook(d), opened) == 200
        assert await snapshot(d) == before


async def test_braintree_renewal_replayed_after_the_next_one(
    tmp_path: Path, fake_braintree: FakeBraintree
) -> None:
    fake = fake_braintree
    async with running_daemon(tmp_path, braintree.overrides(fake)) as d:
        first = await braintree.pay(
            d, product="monthly", customer="erin", postback_url="http://127.0.0.1:1/pb"
        )
        sub_id = fake.transactions[first["transactionId"]]["subscription_id"]
        renewal = fake.charge_subscription(sub_id)
        assert await fake.deliver(braintree.hook(d), renewal) == 200
        assert await fake.deliver(braintree.hook(d), fake.charge_subscription(sub_id)) == 200
        assert await d.runtime.payments.count_by_status() == {"paid": 3}
        before = await snapshot(d)
        assert await fake.deliver(braintree.hook(d), renewal) == 200
        assert await snapshot(d) == before


async def test_braintree_concurrent_duplicate_disputes_apply_once(
    tmp_path: Path, fake_braintree: FakeBraintree
) -> None:
    fake = fake_braintree
    async with running_daemon(tmp_path, braintree.overrides(fake)) as d:
        got = await braintree.pay(d, postback_url="http://127.0.0.1:1/pb")
        opened = fake.open_dispute(got["transactionId"])
        statuses = await asyncio.gather(
            *[fake.deliver(braintree.hook(d), opened) for _ in range(COPIES)]
        )
        assert statuses == [200] * COPIES
        events = [e["event"] for e in await d.runtime.payments.events(got["id"])]
        assert events.count("disputed") == 1


# -- App Store ------------------------------------------------------------------------------


@pytest.fixture
async def apple() -> AsyncIterator[VerifyReceiptServer]:
    server = VerifyReceiptServer(shared_secret="s3cret")
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


def _renewal(signer: AppleSigner, tx: dict[str, Any]) -> dict[str, Any]:
    return {
        **tx,
        "transactionId": signer.next_id(),
        "price": 4990,
        "transactionReason": "RENEWAL",
        "expiresDate": tx["expiresDate"] + 30 * 86_400_000,
    }


async def test_appstore_renewal_replayed_after_its_refund(
    tmp_path: Path, apple: VerifyReceiptServer, receiver: PostbackReceiver
) -> None:
    chain = AppleChain.mint()
    signer = AppleSigner(chain, bundle_id=BUNDLE_ID, environment="Sandbox")
    async with running_daemon(tmp_path, appstore.settings(tmp_path, chain, apple)) as d:
        _, tx = await appstore._paid_subscription(d, signer, receiver)
        renewal = _renewal(signer, tx)
        renewed, _ = signer.notification("DID_RENEW", renewal)
        assert await appstore.notify(d, renewed) == 200
        refund = {**renewal, "revocationDate": int(time.time() * 1000), "revocationReason": 0}
        assert await appstore.notify(d, signer.notification("REFUND", refund)[0]) == 200
        assert await appstore.counts(d) == {"paid": 1, "refunded": 1}
        before = await snapshot(d)
        assert await appstore.notify(d, renewed) == 200
        assert await snapshot(d) == before


async def test_appstore_concurrent_duplicate_renewals_make_one_payment(
    tmp_path: Path, apple: VerifyReceiptServer, receiver: PostbackReceiver
) -> None:
    chain = AppleChain.mint()
    signer = AppleSigner(chain, bundle_id=BUNDLE_ID, environment="Sandbox")
    async with running_daemon(tmp_path, appstore.settings(tmp_path, chain, apple)) as d:
        _, tx = await appstore._paid_subscription(d, signer, receiver)
        renewed, _ = signer.notification("DID_RENEW", _renewal(signer, tx))
        statuses = await asyncio.gather(*[appstore.notify(d, renewed) for _ in range(COPIES)])
        assert statuses == [200] * COPIES
        assert await appstore.counts(d) == {"paid": 2}
        postbacks = [row[1] for row in (await snapshot(d))[2]]
        assert postbacks == ["paid", "paid"]


# -- JWT in-app -----------------------------------------------------------------------------


async def test_inapp_postback_replayed_after_a_chargeback(
    tmp_path: Path, receiver: PostbackReceiver
) -> None:
    async with running_daemon(tmp_path, inapp.config()) as d:
        answer = await inapp.create(d, product="cake", postback_url=receiver.url)
        claims = read_request(answer["jwt"])
        paid, tx_id = notice(claims, price={"amount": "5.50", "currency": "USD"})
        await _post(d, claims["request"]["postbackURL"], paid)
        back, _ = notice(claims, CHARGEBACK_TYP, transaction_id=tx_id, reason="refund")
        await _post(d, claims["request"]["chargebackURL"], back)
        assert (await d.runtime.payments.get(answer["id"])).status == "refunded"
        before = await snapshot(d)
        await _post(d, claims["request"]["postbackURL"], paid)
        assert await snapshot(d) == before


async def test_inapp_concurrent_duplicate_postbacks_pay_once(
    tmp_path: Path, receiver: PostbackReceiver
) -> None:
    async with running_daemon(tmp_path, inapp.config()) as d:
        answer = await inapp.create(d, product="cake", postback_url=receiver.url)
        claims = read_request(answer["jwt"])
        paid, _ = notice(claims, price={"amount": "5.50", "currency": "USD"})
        await asyncio.gather(
            *[_post(d, claims["request"]["postbackURL"], paid) for _ in range(COPIES)]
        )
        events = [e["event"] for e in await d.runtime.payments.events(answer["id"])]
        assert events.count("paid") == 1
        assert [row[1] for row in (await snapshot(d))[2]] == ["paid"]


async def _post(d: Any, url: str, token: str) -> None:
    async with d.session.post(url, data={"notice": token}) as resp:
        assert resp.status == 200, await resp.text()

"""Media access transactions (preparetransaction / finishtransaction) in the books: each
finished one is a provider movement settling its receipt; a deposit's ledger credit is the
customer's balance."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.books.test_export import BALANCES, csv_rows, journal_totals
from tests.commerce.media import Clock, media_daemon, ok
from tests.commerce.test_braintree_subscriptions import braintree_config
from tests.fakes.braintree_server import FakeBraintree

C = {"customer": "user-1"}


async def finish(d: Any, prepare: dict[str, Any], **finished: Any) -> dict[str, Any]:
    tx = (await ok(d, "payment.preparetransaction", {**C, **prepare}))["transactionID"]
    done: dict[str, Any] = await ok(
        d, "payment.finishtransaction", {**C, "transactionID": tx, **finished}
    )
    return done


async def test_finished_media_transactions_settle_their_receipts(tmp_path: Path) -> None:
    clock = Clock()
    async with media_daemon(tmp_path, clock) as d:
        sub = {
            "operation": "subscription",
            "amount": 499,
            "currency": "EUR",
            "provider": "stripe",
            "subscriptionDuration": 1,
            "subscriptionIsPremium": 0,
            "subscriptionWillRenew": 1,
        }
        first = await finish(d, sub, reference="pi_1", finalPayment=399)
        ppv = {"operation": "ppv", "item": 42, "amount": 199, "currency": "EUR"}
        await finish(d, {**ppv, "provider": "braintree"})
        deposit = {"operation": "deposit", "amount": 1000, "currency": "EUR", "provider": "stripe"}
        await finish(d, deposit, finalPayment=950)
        span = {"from": 0, "to": int(clock.now) + 1}
        reply = await ok(d, "export.journal", {**span, "format": "csv"})
        rows = csv_rows(reply["text"])
        moved = sorted(
            (r["method"], r["amount"], r["ledger_kind"])
            for r in rows
            if r["kind"] == "media_transaction"
        )
        assert moved == [
            ("braintree", "1.99", "ppv"),
            ("stripe", "3.99", "subscription"),
            ("stripe", "9.50", "deposit"),
        ]
        sub_row = next(r for r in rows if r["ledger_kind"] == "subscription")
        assert sub_row["reference"] == "pi_1" and sub_row["receipt_number"] == first["receipt"]
        journal = tmp_path / "media.beancount"
        journal.write_text((await ok(d, "export.journal", {**span, "format": "beancount"}))["text"])
        totals = journal_totals(journal)
        assert totals[(BALANCES, "EUR")] == -Decimal("9.50")
        assert totals[("Assets:Providers:Stripe", "EUR")] == Decimal("13.49")
        assert totals[("Assets:Providers:Braintree", "EUR")] == Decimal("1.99")
        receivable = {k: v for k, v in totals.items() if k[0].startswith("Assets:Receivable")}
        assert receivable and all(v == 0 for v in receivable.values()), receivable


@pytest.fixture
async def braintree() -> AsyncIterator[FakeBraintree]:
    f = FakeBraintree()
    f.add_plan("plan-basic", "4.99")
    await f.start()
    yield f
    await f.stop()


async def test_a_renewal_recorded_as_a_payment_is_exported_once(
    tmp_path: Path, braintree: FakeBraintree
) -> None:
    clock = Clock(time.time())
    async with media_daemon(tmp_path, clock, braintree_config(braintree)) as d:
        customer = {"customer": "bt-user"}
        bought = await ok(
            d,
            "payment.processBraintreePayment",
            {
                **customer,
                "paymentNonce": "fake-valid-nonce",
                "product": "basic",
                "currency": "USD",
            },
        )
        sub_ref = braintree.transactions[bought["transactionId"]]["subscription_id"]
        assert await d.runtime.media.bridge.run_once() == 1
        clock.advance(29 * 86400)
        hook = f"{d.public_url}/webhooks/braintree"
        assert await braintree.deliver(hook, braintree.charge_subscription(sub_ref)) == 200
        assert await d.runtime.media.bridge.run_once() == 1
        [sub] = await d.runtime.media.subscriptions.for_customer("bt-user")
        history = await d.runtime.media.subscriptions.history(sub.id)
        assert [p["kind"] for p in history["payments"]] == ["initial", "renewal"]
        span = {"from": 0, "to": int(max(clock.now, time.time())) + 1, "format": "csv"}
        rows = csv_rows((await ok(d, "export.journal", span))["text"])
        charged = [
            (r["kind"], r["method"], r["amount"])
            for r in rows
            if r["kind"] not in ("receipt", "credit_note")
        ]
        assert sorted(charged) == [
            ("provider_payment", "braintree", "4.99"),
            ("provider_payment", "braintree", "4.99"),
        ]

"""Media access transactions (preparetransaction / finishtransaction) in the books: each
finished one is a provider movement settling its receipt; a deposit's ledger credit is the
customer's balance."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

from tests.books.test_export import BALANCES, csv_rows, journal_totals
from tests.commerce.media import Clock, media_daemon, ok

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

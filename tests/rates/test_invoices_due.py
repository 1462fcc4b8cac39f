"""``PaymentStore.invoices_due``: the leader's requote look gets exactly the open invoices
whose current (last) quote has ended, on either engine; and an invoice's options once part
of it was paid."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

from tests.harness import running_daemon
from tests.rates.invoicing import invoice_daemon
from xbtcpay.core.models import CRYPTO, Payment
from xbtcpay.core.persistence import UnitOfWork
from xbtcpay.core.state import State
from xbtcpay.storage.payments import insert_payment

NOW = 1_800_000_000


def _invoice(*ends: int) -> dict[str, Any]:
    quotes = [{"quoted_at": e - 900, "expires_at": e, "options": []} for e in ends]
    return {"invoice": {"price": "10", "currency": "USD", "on_expiry": "requote", "quotes": quotes}}


async def test_only_invoices_whose_last_quote_ended_are_read(tmp_path: Path) -> None:
    base = Payment(
        id="dueBase",
        method=CRYPTO,
        asset="0xbtc",
        amount=Decimal("1"),
        status=State.NEW,
        created_at=NOW - 2000,
        expires_at=NOW + 3600,
    )
    payments = [
        replace(base, id="due1ended", extra=_invoice(NOW - 1)),
        replace(base, id="due2endsnow", extra=_invoice(NOW)),
        replace(base, id="due3running", extra=_invoice(NOW + 1)),
        replace(base, id="due4renewed", extra=_invoice(NOW - 900, NOW + 300)),
        replace(base, id="due5renewedended", extra=_invoice(NOW + 300 - 2000, NOW - 5)),
        replace(base, id="due6paid", status=State.PAID, extra=_invoice(NOW - 1)),
        replace(base, id="due7expired", expires_at=NOW, extra=_invoice(NOW - 1)),
        replace(base, id="due8amount", extra={"data": "invoice"}),
        replace(base, id="due9mentions", extra={"note": '"invoice"', "invoice": "no record"}),
    ]
    async with running_daemon(tmp_path) as d:

        async def work(uow: UnitOfWork) -> None:
            for payment in payments:
                await insert_payment(uow, payment)

        await d.runtime.db.transact(work)
        store = d.runtime.payments
        due = await store.invoices_due(NOW)
        assert [p.id for p in due] == ["due1ended", "due2endsnow", "due5renewedended"]
        first = await store.invoices_due(NOW, "", 1)
        assert [p.id for p in first] == ["due1ended"]
        rest = await store.invoices_due(NOW, "due1ended", 10)
        assert [p.id for p in rest] == ["due2endsnow", "due5renewedended"]


async def test_an_option_asks_for_its_whole_amount_once_part_of_the_payment_came_in(
    tmp_path: Path,
) -> None:
    """The options of an invoice are priced afresh (nothing received in their asset yet);
    the payment's own wallet URI asks only for what is still outstanding."""
    async with invoice_daemon(tmp_path) as (d, _, _):
        reply = await d.call("start_payment", {"price": "19.99", "currency": "USD"})
        result = reply["result"]
        core = d.runtime.core
        created = await d.runtime.payments.get(result["id"])
        assert created is not None
        first = core.invoice_fields(created)["options"][0]
        assert first["payment_uri"] == result["payment_uri"] == core.payment_uri(created)
        part = replace(created, amount_received=Decimal("100"), version=created.version + 1)
        options = core.invoice_fields(part)["options"]
        assert options[0]["asset"] == part.asset
        assert options[0]["payment_uri"] == first["payment_uri"]  # the whole amount
        assert core.payment_uri(part) != first["payment_uri"]  # what is still owed

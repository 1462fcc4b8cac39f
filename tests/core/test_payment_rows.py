"""A stored payment reads back as exactly the Payment that was written, on either engine.

``row_to_payment`` builds the frozen dataclass without its ``__init__`` (it is on the
status.json miss path); this pins that the result is indistinguishable from the real
constructor's: same fields, same values, same types, Decimal digits included.
"""

from __future__ import annotations

from dataclasses import fields, replace
from decimal import Decimal
from pathlib import Path

from tests.harness import running_daemon
from xbtcpay.core.models import CRYPTO, Payment
from xbtcpay.core.persistence import UnitOfWork
from xbtcpay.core.state import State
from xbtcpay.storage.payments import insert_payment, row_to_payment


def _variants() -> list[Payment]:
    base = Payment(
        id="pRowsBase000001",
        method=CRYPTO,
        asset="0xbtc",
        amount=Decimal("1.50000000"),
        status=State.NEW,
        created_at=1_700_000_000,
    )
    return [
        base,
        replace(
            base,
            id="pRowsFull000002",
            amount=Decimal("20999983.99999999"),
            amount_received=Decimal("0.00000001"),
            amount_refunded=Decimal("0.10"),
            status=State.PAID,
            data='{"order": 7, "note": "ä \\u2028"}',
            address="0x" + "ab" * 20,
            derivation_index=12,
            postback_url="https://shop.example/pb",
            postback_events=("paid", "expired"),
            order_id="order-7",
            request_hash="h" * 64,
            product="sku-1",
            customer="cust-9",
            provider_ref="ref-1",
            expires_at=1_700_086_400,
            seen_at=1_700_000_100,
            paid_at=1_700_000_200,
            tx_hash="0x" + "cd" * 32,
            tx_block=123456,
            late=True,
            overpaid=True,
            reorged=True,
            reason="because",
            extra={"fiat": {"USD": "19.99"}, "list": [1, 2]},
            version=3,
            updated_at=1_700_000_300,
        ),
        replace(base, id="pRowsStripe0003", method="stripe", asset="USD", amount=Decimal("19.99")),
    ]


async def test_a_payment_reads_back_as_the_constructor_would_build_it(tmp_path: Path) -> None:
    async with running_daemon(tmp_path) as d:
        written = _variants()

        async def work(uow: UnitOfWork) -> None:
            for payment in written:
                await insert_payment(uow, payment)

        await d.runtime.db.transact(work)
        for payment in written:
            read = await d.runtime.payments.get(payment.id)
            assert read is not None
            assert read == payment
            rebuilt = Payment(**{f.name: getattr(read, f.name) for f in fields(Payment)})
            assert vars(read) == vars(rebuilt)
            for f in fields(Payment):
                value = getattr(read, f.name)
                assert type(value) is type(getattr(payment, f.name)), f.name
                if isinstance(value, Decimal):
                    assert str(value) == str(getattr(payment, f.name)), f.name
            with_extra_column = {**{f.name: getattr(read, f.name) for f in fields(Payment)}}
            with_extra_column.update(status=read.status.value, extra="{}", unknown_column=1)
            for name in ("amount", "amount_received", "amount_refunded"):
                with_extra_column[name] = format(getattr(read, name), "f")
            with_extra_column["postback_events"] = None
            assert "unknown_column" not in vars(row_to_payment(with_extra_column))

"""Receipts and credit notes: immutable, numbered from a gapless sequence per company.

The number is drawn (``UPDATE receipt_sequences SET last = last + 1 ... RETURNING last``) in
the transaction that writes the receipt, so a rolled-back purchase returns its number and two
concurrent purchases never share one: numbers are used once, in order, with no gaps.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from typing import Any

from xbtcpay.commerce.currencies import Currency
from xbtcpay.commerce.settings import CommerceConfig, Company
from xbtcpay.commerce.taxes import TaxRate, TaxSplit, split
from xbtcpay.core.persistence import Engine, UnitOfWork

RECEIPT, CREDIT_NOTE = "receipt", "credit_note"


@dataclass(frozen=True)
class Line:
    product: str
    description: str
    quantity: int
    amount: int  # minor units, tax included for inclusive rates


@dataclass(frozen=True)
class Draft:
    """Everything of a receipt except its number, sequence and view token."""

    company: Company
    kind: str
    currency: Currency
    amounts: TaxSplit
    lines: tuple[Line, ...]
    method: str
    issued_at: int
    tax_country: str | None = None
    customer: str | None = None
    payment_id: str | None = None
    purchase_token: str | None = None
    original_number: str | None = None
    card_brand: str | None = None
    card_last4: str | None = None
    paid_at: int | None = None


@dataclass(frozen=True)
class Receipt:
    number: str
    company: str
    seq: int
    kind: str
    currency: str
    total: int
    tax: int
    less_tax: int
    tax_rate: str
    lines: tuple[Line, ...]
    method: str
    view_token: str
    issued_at: int
    tax_country: str | None = None
    customer: str | None = None
    payment_id: str | None = None
    purchase_token: str | None = None
    original_number: str | None = None
    card_brand: str | None = None
    card_last4: str | None = None
    paid_at: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)


_COLUMNS = (
    "number",
    "company",
    "seq",
    "kind",
    "currency",
    "total",
    "tax",
    "less_tax",
    "tax_rate",
    "lines",
    "method",
    "view_token",
    "issued_at",
    "tax_country",
    "customer",
    "payment_id",
    "purchase_token",
    "original_number",
    "card_brand",
    "card_last4",
    "paid_at",
)


def receipt_of(row: Any) -> Receipt:
    values = {c: row[c] for c in _COLUMNS}
    values["lines"] = tuple(Line(**x) for x in json.loads(values["lines"]))
    return Receipt(**values)


def tax_rate_for(
    config: CommerceConfig, company: Company, currency: Currency, buyer_country: str | None
) -> TaxRate | None:
    """The rate of the buyer's country when named, else the company's; none for virtual
    currencies (no tax on the shop's own units)."""
    if currency.virtual:
        return None
    country = buyer_country or company.country
    return config.taxes.get(country) if country else None


async def next_number(uow: UnitOfWork, company: Company) -> tuple[str, int]:
    """The company's next receipt number, drawn inside the caller's transaction (the row
    stays locked until it commits: that is what makes the sequence gapless)."""
    row = await uow.fetchone(
        "UPDATE receipt_sequences SET last = last + 1 WHERE company = ? RETURNING last",
        (company.key,),
    )
    if row is None:
        await uow.execute(
            "INSERT INTO receipt_sequences (company, last) VALUES (?, 0) ON CONFLICT DO NOTHING",
            (company.key,),
        )
        row = await uow.fetchone(
            "UPDATE receipt_sequences SET last = last + 1 WHERE company = ? RETURNING last",
            (company.key,),
        )
    assert row is not None
    seq = int(row[0])
    return f"{company.receipt_prefix}{seq:0{company.digits}d}", seq


async def issue(uow: UnitOfWork, draft: Draft) -> Receipt:
    """Number and store ``draft`` in the caller's transaction."""
    number, seq = await next_number(uow, draft.company)
    d = draft
    receipt = Receipt(
        number=number,
        company=d.company.key,
        seq=seq,
        kind=d.kind,
        currency=d.currency.code,
        total=d.amounts.total,
        tax=d.amounts.tax,
        less_tax=d.amounts.less_tax,
        tax_rate=format(d.amounts.rate, "f"),
        lines=d.lines,
        method=d.method,
        view_token=secrets.token_urlsafe(24),
        issued_at=d.issued_at,
        tax_country=d.tax_country,
        customer=d.customer,
        payment_id=d.payment_id,
        purchase_token=d.purchase_token,
        original_number=d.original_number,
        card_brand=d.card_brand,
        card_last4=d.card_last4,
        paid_at=d.paid_at,
    )
    values = [getattr(receipt, c) for c in _COLUMNS]
    values[_COLUMNS.index("lines")] = json.dumps([asdict(x) for x in receipt.lines])
    await uow.execute(
        f"INSERT INTO issued_receipts ({', '.join(_COLUMNS)}) VALUES"
        f" ({', '.join('?' for _ in _COLUMNS)})",
        values,
    )
    return receipt


async def for_payment(uow: UnitOfWork, payment_id: str, kind: str = RECEIPT) -> list[Receipt]:
    rows = await uow.fetchall(
        f"SELECT {', '.join(_COLUMNS)} FROM issued_receipts"
        " WHERE payment_id = ?"
        " AND kind = ? ORDER BY seq",
        (payment_id, kind),
    )
    return [receipt_of(r) for r in rows]


class ReceiptReader:
    def __init__(self, db: Engine) -> None:
        self.db = db

    async def get(self, number: str) -> Receipt | None:
        row = await self.db.fetchone(
            f"SELECT {', '.join(_COLUMNS)} FROM issued_receipts WHERE number = ?", (number,)
        )
        return receipt_of(row) if row else None

    async def by_view_token(self, token: str) -> Receipt | None:
        row = await self.db.fetchone(
            f"SELECT {', '.join(_COLUMNS)} FROM issued_receipts WHERE view_token = ?", (token,)
        )
        return receipt_of(row) if row else None

    async def of_customer(self, customer: str, limit: int, offset: int) -> list[Receipt]:
        rows = await self.db.fetchall(
            f"SELECT {', '.join(_COLUMNS)} FROM issued_receipts WHERE customer = ?"
            " ORDER BY issued_at DESC, number DESC LIMIT ? OFFSET ?",
            (customer, limit, offset),
        )
        return [receipt_of(r) for r in rows]

    async def credit_notes_of(self, number: str) -> list[Receipt]:
        rows = await self.db.fetchall(
            f"SELECT {', '.join(_COLUMNS)} FROM issued_receipts"
            " WHERE original_number = ? ORDER BY seq",
            (number,),
        )
        return [receipt_of(r) for r in rows]

    async def issued_between(self, start: int, end: int) -> list[Receipt]:
        """Receipts and credit notes issued in ``[start, end)`` (UNIX seconds), oldest first:
        the documents of a period for the books."""
        rows = await self.db.fetchall(
            f"SELECT {', '.join(_COLUMNS)} FROM issued_receipts"
            " WHERE issued_at >= ? AND issued_at < ? ORDER BY issued_at, company, seq",
            (start, end),
        )
        return [receipt_of(r) for r in rows]

    async def with_receipt(self, payment_ids: Sequence[str]) -> set[str]:
        """Which of ``payment_ids`` have a receipt (issued at any time)."""
        found: set[str] = set()
        ids = list(dict.fromkeys(payment_ids))
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            rows = await self.db.fetchall(
                "SELECT DISTINCT payment_id FROM issued_receipts WHERE kind = ?"
                f" AND payment_id IN ({', '.join('?' * len(chunk))})",
                [RECEIPT, *chunk],
            )
            found.update(str(r[0]) for r in rows)
        return found

    async def numbers(self, company: str) -> list[int]:
        rows = await self.db.fetchall(
            "SELECT seq FROM issued_receipts WHERE company = ? ORDER BY seq", (company,)
        )
        return [int(r[0]) for r in rows]


def describe(receipt: Receipt, currency: Currency, url: str | None) -> dict[str, Any]:
    """JSON of a receipt: amounts as decimal strings of the currency."""
    fmt = currency.format
    return {
        "number": receipt.number,
        "kind": receipt.kind,
        "company": receipt.company,
        "original_number": receipt.original_number,
        "customer": receipt.customer,
        "payment_id": receipt.payment_id,
        "currency": receipt.currency,
        "total": fmt(receipt.total),
        "tax": fmt(receipt.tax),
        "amount_less_tax": fmt(receipt.less_tax),
        "tax_rate": receipt.tax_rate,
        "tax_country": receipt.tax_country,
        "method": receipt.method,
        "card": mask(receipt.card_brand, receipt.card_last4),
        "lines": [
            {
                "product": x.product,
                "description": x.description,
                "quantity": x.quantity,
                "amount": fmt(x.amount),
            }
            for x in receipt.lines
        ],
        "issued_at": receipt.issued_at,
        "paid_at": receipt.paid_at,
        "url": url,
    }


def credit_amounts(original: Receipt, notes: list[Receipt], delta: int) -> TaxSplit:
    """The (negative) amounts of a credit note for ``delta`` more of ``original``: the last
    one mirrors what is left exactly, a partial one splits ``delta`` at the receipt's rate."""
    total = sum(n.total for n in notes)
    tax = sum(n.tax for n in notes)
    less = sum(n.less_tax for n in notes)
    rate = Decimal(original.tax_rate)
    if delta == original.total + total:
        return TaxSplit(-delta, -(original.tax + tax), -(original.less_tax + less), rate)
    return split(-delta, TaxRate(original.tax_country or "", rate, True) if rate else None)


async def credit_notes(uow: UnitOfWork, original_number: str) -> list[Receipt]:
    rows = await uow.fetchall(
        f"SELECT {', '.join(_COLUMNS)} FROM issued_receipts WHERE original_number = ? ORDER BY seq",
        (original_number,),
    )
    return [receipt_of(r) for r in rows]


async def by_number(uow: UnitOfWork, number: str) -> Receipt | None:
    row = await uow.fetchone(
        f"SELECT {', '.join(_COLUMNS)} FROM issued_receipts WHERE number = ?", (number,)
    )
    return receipt_of(row) if row else None


def mask(brand: str | None, last4: str | None) -> str | None:
    """``Visa **** 4242`` from the provider's brand and last four digits."""
    if not last4:
        return None
    return f"{brand} **** {last4}" if brand else f"**** {last4}"

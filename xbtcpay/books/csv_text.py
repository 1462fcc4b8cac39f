"""The CSV export: one row per movement, amounts as exact decimal strings."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence

from xbtcpay.books.movements import Movement
from xbtcpay.books.period import iso

COLUMNS = (
    "at",
    "kind",
    "method",
    "chain",
    "asset",
    "amount",
    "fiat_amount",
    "fiat_currency",
    "fiat_source",
    "tax",
    "tax_country",
    "payment_id",
    "receipt_number",
    "original_number",
    "tx_hash",
    "sweep_id",
    "reference",
    "customer",
    "ledger_kind",
    "overpaid",
)


def csv_text(movements: Sequence[Movement]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for m in movements:
        writer.writerow(
            [
                iso(m.at),
                m.kind,
                m.method,
                m.chain,
                m.asset,
                format(m.amount, "f"),
                format(m.fiat.amount, "f") if m.fiat else "",
                m.fiat.currency if m.fiat else "",
                m.fiat.source if m.fiat else "",
                format(m.tax, "f") if m.tax is not None else "",
                m.tax_country,
                _cell(m.payment_id),
                _cell(m.receipt_number),
                _cell(m.original_number),
                m.tx_hash,
                m.sweep_id,
                _cell(m.reference),
                _cell(m.customer),
                m.ledger_kind,
                "1" if m.overpaid else "",
            ]
        )
    return out.getvalue()


def _cell(text: str) -> str:
    """A value from outside (a customer id, a provider's reference, an order's id) that a
    spreadsheet would run as a formula is prefixed with ``'``."""
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text

"""The beancount export: a double-entry journal of the period.

Every account is opened on the period's first day, every commodity is declared with the
xbtcpay name it stands for (``name:`` metadata), and each movement is one transaction whose
metadata carries the ids that tie it to the CSV and to xbtcpay (payment, receipt, tx hash,
sweep). Strings are escaped; ids never become links or account names.
"""

from __future__ import annotations

from collections.abc import Sequence

from xbtcpay.books.accounts import Posting, postings
from xbtcpay.books.commodities import commodities
from xbtcpay.books.movements import Movement
from xbtcpay.books.period import day, iso

NARRATION = {
    "crypto_payment": "Crypto payment received",
    "provider_payment": "Provider payment",
    "media_transaction": "Media transaction",
    "subscription_payment": "Subscription payment",
    "receipt": "Receipt issued",
    "credit_note": "Credit note issued",
    "ledger_entry": "Customer balance",
    "sweep": "Sweep to the treasury",
    "sweep_gas": "Sweep gas",
    "refund": "Crypto refund paid out",
    "payout_gas": "Payout gas",
}


def beancount_text(
    movements: Sequence[Movement], start: int, end: int, currency: str | None, title: str
) -> str:
    entries = [(m, postings(m)) for m in movements]
    entries = [(m, ps) for m, ps in entries if ps]
    names = commodities(p.asset for _, ps in entries for p in ps)
    lines = [
        f"; xbtcpay books from {iso(start)} (included) to {iso(end)} (excluded)",
        f'option "title" {_quote(title)}',
    ]
    if currency:
        lines.append(f'option "operating_currency" {_quote(currency)}')
    lines.append("")
    opened = day(start)
    for name, mapped in sorted(names.items(), key=lambda kv: kv[1]):
        lines += [f"{opened} commodity {mapped}", f"  name: {_quote(name)}"]
    lines.append("")
    for account in sorted({p.account for _, ps in entries for p in ps}):
        lines.append(f"{opened} open {account}")
    for m, ps in entries:
        lines.append("")
        lines += _transaction(m, ps, names)
    return "\n".join(lines) + "\n"


def _transaction(m: Movement, ps: list[Posting], names: dict[str, str]) -> list[str]:
    detail = m.ledger_kind or m.method or m.asset
    out = [f"{day(m.at)} * {_quote(NARRATION[m.kind])} {_quote(detail)}"]
    meta = {
        "at": iso(m.at),
        "kind": m.kind,
        "payment_id": m.payment_id,
        "receipt_number": m.receipt_number,
        "original_number": m.original_number,
        "tx_hash": m.tx_hash,
        "sweep_id": m.sweep_id,
        "reference": m.reference,
        "customer": m.customer,
    }
    if m.fiat is not None:
        meta["fiat_value"] = f"{format(m.fiat.amount, 'f')} {m.fiat.currency}"
        meta["fiat_source"] = m.fiat.source
    if m.overpaid:
        meta["overpaid"] = "true"
    out += [f"  {key}: {_quote(value)}" for key, value in meta.items() if value]
    out += [f"  {p.account}  {format(p.amount, 'f')} {names[p.asset]}" for p in ps]
    return out


def _quote(text: str) -> str:
    clean = "".join(c if c.isprintable() else " " for c in text)
    return '"' + clean.replace("\\", "\\\\").replace('"', '\\"') + '"'

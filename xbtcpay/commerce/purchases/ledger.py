"""The balance ledger: append-only entries in integer minor units; balance = their sum.

Every function that writes takes the unit of work (``conn``) of the caller's transaction, so
a credit is committed together with the payment transition or the receipt that causes it.
``balances`` is a cache of the sums, updated by the same statement that guards a debit
(``UPDATE ... WHERE amount + delta >= floor``): two concurrent purchases can never both
spend the same money, on either engine. ``check`` proves the cache equal to the sums.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from xbtcpay.commerce.errors import InsufficientBalance
from xbtcpay.core.persistence import Engine, UnitOfWork


class Kind(StrEnum):
    TOP_UP = "top_up"
    PURCHASE = "purchase"
    REFUND = "refund"
    REVERSAL = "reversal"
    GRANT = "grant"
    ADJUSTMENT = "adjustment"


@dataclass(frozen=True)
class Entry:
    id: str
    customer: str
    currency: str
    amount: int  # signed minor units
    balance_after: int
    kind: str
    idempotency_key: str
    seq: int
    at: int
    payment_id: str | None = None
    receipt_number: str | None = None
    reason: str | None = None


@dataclass(frozen=True)
class Posting:
    """What to append: ``floor`` refuses a debit that would take the balance below it."""

    customer: str
    currency: str
    amount: int
    kind: Kind
    idempotency_key: str
    at: int
    payment_id: str | None = None
    receipt_number: str | None = None
    reason: str | None = None
    floor: int | None = None


_COLUMNS = (
    "id",
    "customer",
    "currency",
    "amount",
    "balance_after",
    "kind",
    "idempotency_key",
    "seq",
    "at",
    "payment_id",
    "receipt_number",
    "reason",
)


def entry_of(row: Any) -> Entry:
    return Entry(**{c: row[c] for c in _COLUMNS})


async def find(uow: UnitOfWork, idempotency_key: str) -> Entry | None:
    row = await uow.fetchone(
        f"SELECT {', '.join(_COLUMNS)} FROM ledger_entries WHERE idempotency_key = ?",
        (idempotency_key,),
    )
    return entry_of(row) if row else None


async def append(uow: UnitOfWork, posting: Posting) -> tuple[Entry, bool]:
    """Append ``posting`` once per idempotency key: (entry, True) when written now,
    (the earlier entry, False) on a replay. InsufficientBalance when below ``floor``."""
    earlier = await find(uow, posting.idempotency_key)
    if earlier is not None:
        return earlier, False
    balance_after, seq = await move(uow, posting)
    return await write_entry(uow, posting, balance_after, seq), True


async def move(uow: UnitOfWork, p: Posting) -> tuple[int, int]:
    """Move the cached balance by ``p.amount`` (guarded by ``p.floor``); the balance after
    and the entry's sequence number. The caller writes the entry in the same unit of work
    (``write_entry``), after drawing anything it must reference (a receipt number)."""
    account = account_key(p.customer, p.currency)
    await uow.execute(
        "INSERT INTO balances (account, customer, currency, amount, entries)"
        " VALUES (?, ?, ?, 0, 0) ON CONFLICT DO NOTHING",
        (account, p.customer, p.currency),
    )
    sql = "UPDATE balances SET amount = amount + ?, entries = entries + 1 WHERE account = ?"
    args: list[Any] = [p.amount, account]
    if p.floor is not None:
        sql += " AND amount + ? >= ?"
        args += [p.amount, p.floor]
    row = await uow.fetchone(sql + " RETURNING amount, entries", args)
    if row is None:
        raise InsufficientBalance(f"{p.currency} balance too low")
    return int(row[0]), int(row[1])


def account_key(customer: str, currency: str) -> str:
    """The balances row of (customer, currency); a space never occurs in either."""
    return f"{currency} {customer}"


async def write_entry(
    uow: UnitOfWork, p: Posting, balance_after: int, seq: int, receipt_number: str | None = None
) -> Entry:
    entry = Entry(
        "le_" + secrets.token_hex(12),
        p.customer,
        p.currency,
        p.amount,
        balance_after,
        p.kind.value,
        p.idempotency_key,
        seq,
        p.at,
        p.payment_id,
        receipt_number or p.receipt_number,
        p.reason,
    )
    await uow.execute(
        f"INSERT INTO ledger_entries ({', '.join(_COLUMNS)}) VALUES"
        f" ({', '.join('?' for _ in _COLUMNS)})",
        [getattr(entry, c) for c in _COLUMNS],
    )
    return entry


async def sum_for_payment(uow: UnitOfWork, payment_id: str, kind: Kind) -> int:
    row = await uow.fetchone(
        "SELECT COALESCE(SUM(amount), 0) FROM ledger_entries WHERE payment_id = ? AND kind = ?",
        (payment_id, kind.value),
    )
    return int(row[0]) if row else 0


class LedgerReader:
    """Reads for balance.get / balance.history and the independent check."""

    def __init__(self, db: Engine) -> None:
        self.db = db

    async def balances(self, customer: str) -> dict[str, int]:
        rows = await self.db.fetchall(
            "SELECT currency, amount FROM balances WHERE customer = ? ORDER BY currency",
            (customer,),
        )
        return {r[0]: int(r[1]) for r in rows}

    async def history(
        self, customer: str, currency: str | None, limit: int, cursor: str | None
    ) -> tuple[list[Entry], str | None]:
        """Newest first; ``cursor`` continues after the last entry of the previous page."""
        where: list[str] = ["customer = ?"]
        args: list[Any] = [customer]
        if currency is not None:
            where.append("currency = ?")
            args.append(currency)
        if cursor is not None:
            at, entry_id = decode_cursor(cursor)
            where.append("(at < ? OR (at = ? AND id < ?))")
            args += [at, at, entry_id]
        rows = await self.db.fetchall(
            f"SELECT {', '.join(_COLUMNS)} FROM ledger_entries WHERE {' AND '.join(where)}"
            " ORDER BY at DESC, id DESC LIMIT ?",
            [*args, limit + 1],
        )
        entries = [entry_of(r) for r in rows[:limit]]
        more = len(rows) > limit
        return entries, encode_cursor(entries[-1]) if more and entries else None

    async def entries_between(self, start: int, end: int) -> list[Entry]:
        """Entries of every customer dated in ``[start, end)`` (UNIX seconds), oldest first:
        the ledger movements of a period for the books."""
        rows = await self.db.fetchall(
            f"SELECT {', '.join(_COLUMNS)} FROM ledger_entries WHERE at >= ? AND at < ?"
            " ORDER BY at, customer, currency, seq",
            (start, end),
        )
        return [entry_of(r) for r in rows]

    async def totals(self) -> dict[str, int]:
        """The sum of every customer's balance per currency (what the shop owes them)."""
        rows = await self.db.fetchall(
            "SELECT currency, SUM(amount) FROM balances GROUP BY currency ORDER BY currency"
        )
        return {r[0]: int(r[1]) for r in rows}

    async def mismatches(self) -> list[dict[str, Any]]:
        """Accounts whose cached balance differs from the sum of their entries (none, ever)."""
        rows = await self.db.fetchall(
            "SELECT b.customer, b.currency, b.amount, COALESCE(SUM(e.amount), 0) AS total"
            " FROM balances b LEFT JOIN ledger_entries e"
            " ON e.customer = b.customer AND e.currency = b.currency"
            " GROUP BY b.customer, b.currency, b.amount"
            " HAVING b.amount <> COALESCE(SUM(e.amount), 0)"
        )
        return [dict(zip(("customer", "currency", "cached", "sum"), r, strict=True)) for r in rows]

    async def negative(self) -> dict[str, int]:
        """Number of accounts below zero per currency (after reversals; for the metrics)."""
        rows = await self.db.fetchall(
            "SELECT currency, COUNT(*) FROM balances WHERE amount < 0 GROUP BY currency"
        )
        return {r[0]: int(r[1]) for r in rows}


def encode_cursor(entry: Entry) -> str:
    return base64.urlsafe_b64encode(f"{entry.at}:{entry.id}".encode()).decode()


def decode_cursor(cursor: str) -> tuple[int, str]:
    """The (at, id) a cursor continues after; ValueError for anything :func:`encode_cursor`
    cannot have written (a time outside SQL's 64-bit integers would fail the query)."""
    try:
        at, entry_id = base64.urlsafe_b64decode(cursor.encode()).decode().split(":", 1)
    except (ValueError, UnicodeDecodeError):
        raise ValueError("invalid cursor") from None
    if not (at.isascii() and at.isdigit() and len(at) <= 18):  # 0 <= at < 10**18 < 2**63
        raise ValueError("invalid cursor")
    return int(at), entry_id


def describe(entry: Entry, fmt: Mapping[str, Any], *, with_key: bool = True) -> dict[str, Any]:
    """The JSON of one entry; ``fmt[currency]`` formats minor units as a decimal string.

    ``with_key=False`` leaves out the idempotency key: it carries the shop's own keys
    (``adjust:<key>``) and is the shop's business, not the end user's app's.
    """
    show = fmt.get(entry.currency)
    amount = show(entry.amount) if show else str(entry.amount)
    after = show(entry.balance_after) if show else str(entry.balance_after)
    described = {
        "id": entry.id,
        "currency": entry.currency,
        "amount": amount,
        "amount_minor": entry.amount,
        "balance_after": after,
        "kind": entry.kind,
        "payment_id": entry.payment_id,
        "receipt_number": entry.receipt_number,
        "reason": entry.reason,
        "idempotency_key": entry.idempotency_key,
        "at": entry.at,
    }
    if not with_key:
        del described["idempotency_key"]
    return described

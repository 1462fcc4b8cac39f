"""SQL of subscriptions, their append-only events and payments.

The functions take the write connection of one transaction (``conn``) so a caller can
compose a subscription change with other writes (a transaction finishing, a voucher
redemption) into one commit. State changes are compare-and-set on ``version``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from typing import Any

from xbtcpay.commerce.media_access.subscription import Subscription
from xbtcpay.commerce.media_access.subscription_receipts import ReceiptIssuer
from xbtcpay.commerce.media_access.subscription_state import SubState
from xbtcpay.core.persistence import Engine, UnitOfWork

_COLUMNS = [f.name for f in fields(Subscription)]
_BOOL = {"premium", "will_renew", "can_renew", "paid_monthly"}
Rule = Callable[[Subscription], Subscription]


@dataclass(frozen=True)
class SubPayment:
    """One payment of a subscription (first period, renewal, upgrade)."""

    kind: str
    provider: str
    reference: str
    amount_minor: int
    currency: str


@dataclass(frozen=True)
class PaidPeriod:
    """A subscription payment as the books see it."""

    subscription_id: str
    customer: str
    kind: str
    provider: str
    reference: str
    amount_minor: int
    currency: str
    receipt_number: str | None
    at: int


async def renewals_between(db: Engine, start: int, end: int) -> list[PaidPeriod]:
    """Renewals and upgrades recorded in ``[start, end)`` (UNIX seconds), oldest first: the
    subscription payments no other row records (a first period is its payment's or its
    media transaction's, and the books take it from there)."""
    rows = await db.fetchall(
        "SELECT p.subscription_id, s.customer, p.kind, p.provider, p.reference,"
        " p.amount_minor, p.currency, p.receipt_number, p.at FROM subscription_payments p"
        " JOIN subscriptions s ON s.id = p.subscription_id"
        " WHERE p.kind <> 'initial' AND p.at >= ? AND p.at < ? ORDER BY p.at, p.id",
        (start, end),
    )
    return [
        PaidPeriod(
            r["subscription_id"],
            r["customer"],
            r["kind"],
            r["provider"],
            r["reference"],
            int(r["amount_minor"]),
            r["currency"],
            r["receipt_number"],
            int(r["at"]),
        )
        for r in rows
    ]


class AlreadyApplied(Exception):
    """The event's dedupe key (or its payment) was applied before (the change is not made
    again)."""


def row_to_subscription(row: Any) -> Subscription:
    values = {name: row[name] for name in _COLUMNS}
    for name in _BOOL:
        values[name] = bool(values[name])
    values["state"] = SubState(values["state"])
    return Subscription(**values)


def _columns(sub: Subscription) -> list[Any]:
    out = []
    for name in _COLUMNS:
        value = getattr(sub, name)
        out.append(
            int(value) if name in _BOOL else value.value if isinstance(value, SubState) else value
        )
    return out


async def _event(
    conn: UnitOfWork,
    sub: Subscription,
    event: str,
    from_state: str | None,
    source: str,
    dedupe_key: str | None,
    details: Mapping[str, Any],
) -> None:
    await conn.execute(
        "INSERT INTO subscription_events (subscription_id, event, from_state, to_state,"
        " valid_until, at, source, dedupe_key, details) VALUES (?,?,?,?,?,?,?,?,?)",
        (
            sub.id,
            event,
            from_state,
            sub.state.value,
            sub.valid_until,
            sub.updated_at,
            source,
            dedupe_key,
            json.dumps(dict(details), separators=(",", ":"), default=str),
        ),
    )


async def insert(
    conn: UnitOfWork, sub: Subscription, source: str, details: Mapping[str, Any] | None = None
) -> Subscription:
    marks = ", ".join("?" for _ in _COLUMNS)
    await conn.execute(
        f"INSERT INTO subscriptions ({', '.join(_COLUMNS)}) VALUES ({marks})", _columns(sub)
    )
    await _event(conn, sub, "create", None, source, None, details or {})
    return sub


async def load(conn: UnitOfWork, sub_id: str, customer: str | None = None) -> Subscription | None:
    """The subscription ``sub_id`` (only when it is ``customer``'s, when one is named)."""
    # PostgreSQL: lock the row so concurrent changes queue up instead of failing the CAS
    if customer is None:
        row = await conn.fetchone(
            "SELECT * FROM subscriptions WHERE id = ?" + conn.for_update, (sub_id,)
        )
    else:
        row = await conn.fetchone(
            "SELECT * FROM subscriptions WHERE id = ? AND customer = ?" + conn.for_update,
            (sub_id, customer),
        )
    return row_to_subscription(row) if row else None


async def dedupe_seen(conn: UnitOfWork, key: str) -> bool:
    return (
        await conn.fetchone("SELECT 1 FROM subscription_events WHERE dedupe_key = ?", (key,))
        is not None
    )


async def payment_seen(conn: UnitOfWork, provider: str, reference: str) -> bool:
    """A provider may send the same payment again under a new event id (Stripe: a second
    ``invoice.paid`` for one invoice); the payment's reference, not the event, is the fact."""
    return (
        await conn.fetchone(
            "SELECT 1 FROM subscription_payments WHERE provider = ? AND reference = ?",
            (provider, reference),
        )
        is not None
    )


async def change(
    conn: UnitOfWork,
    sub_id: str,
    rule: Rule,
    event: str,
    *,
    source: str,
    dedupe_key: str | None = None,
    payment: SubPayment | None = None,
    details: Mapping[str, Any] | None = None,
    receipt: ReceiptIssuer | None = None,
    customer: str | None = None,
) -> Subscription:
    """Apply ``rule`` to the stored subscription and persist it with its event (and payment).

    A change a customer asked for names ``customer``: another customer's subscription is then
    as unknown as a missing one. Raises AlreadyApplied for a seen ``dedupe_key``, LookupError
    for an unknown id, and whatever the rule raises (InvalidTransition, InvalidParams)
    without writing anything.
    """
    if dedupe_key is not None and await dedupe_seen(conn, dedupe_key):
        raise AlreadyApplied(dedupe_key)
    before = await load(conn, sub_id, customer)
    if before is None:
        raise LookupError(sub_id)
    after = rule(before)
    after = Subscription(**{**after.__dict__, "version": before.version + 1})
    sets = ", ".join(f"{c} = ?" for c in _COLUMNS if c != "id")
    values = [v for c, v in zip(_COLUMNS, _columns(after), strict=True) if c != "id"]
    changed = await conn.execute(
        f"UPDATE subscriptions SET {sets} WHERE id = ? AND version = ?",
        (*values, sub_id, before.version),
    )
    if changed != 1:
        raise RuntimeError("subscription changed concurrently")  # never under one writer
    await _event(conn, after, event, before.state.value, source, dedupe_key, details or {})
    if payment is not None:
        number = (
            None
            if receipt is None
            else await receipt.issue(
                conn,
                customer=after.customer,
                product=after.product,
                provider=payment.provider,
                units=payment.amount_minor,
                currency_code=payment.currency,
                at=after.updated_at,
            )
        )
        await add_payment(conn, after, payment, number)
    return after


async def add_payment(
    conn: UnitOfWork, sub: Subscription, payment: SubPayment, receipt_number: str | None = None
) -> None:
    await conn.execute(
        "INSERT INTO subscription_payments (subscription_id, kind, provider, reference,"
        " amount_minor, currency, period_end, receipt_number, at) VALUES (?,?,?,?,?,?,?,?,?)",
        (
            sub.id,
            payment.kind,
            payment.provider,
            payment.reference,
            payment.amount_minor,
            payment.currency,
            sub.valid_until,
            receipt_number,
            sub.updated_at,
        ),
    )


SELECT_BY_CUSTOMER = "SELECT * FROM subscriptions WHERE customer = ?"
SELECT_BY_REF = "SELECT * FROM subscriptions WHERE provider = ? AND provider_ref = ?"
SELECT_DUE = (
    "SELECT * FROM subscriptions WHERE state IN ('active', 'canceled')"
    " AND valid_until <= ? ORDER BY valid_until LIMIT ?"
)
SELECT_PAYMENTS = (
    "SELECT kind, provider, reference, amount_minor, currency, period_end,"
    " receipt_number, at"
    " FROM subscription_payments WHERE subscription_id = ? ORDER BY id"
)
SELECT_EVENTS = (
    "SELECT event, from_state, to_state, valid_until, at, source, details"
    " FROM subscription_events WHERE subscription_id = ? ORDER BY seq"
)

"""The ``refunds`` and ``refund_events`` tables (migration ``250_refunds.sql``).

A refund is written with the cap it must respect in the same unit of work that locks its
payment's row: two refunds asked for at once can never together give back more than was
received. Every status change is a compare-and-set on the refund's status plus one
``refund_events`` row, so the history of a refund is its events in order.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

from xbtcpay.core.persistence import Engine, Row, UnitOfWork

REQUESTED, APPROVED, SENT, CONFIRMED, FAILED, CANCELED = (
    "requested",
    "approved",
    "sent",
    "confirmed",
    "failed",
    "canceled",
)
# A refund in one of these states holds part of what the payment can still give back.
HOLDING = (REQUESTED, APPROVED, SENT, CONFIRMED)

_COLUMNS = (
    "id, payment_id, chain, asset, units, amount, fiat_amount, currency, rate, rate_kind,"
    " stray, address, reason, status, claim_hash, claim_expires_at, claimed_at, force_debit,"
    " tx_hash, created_at, updated_at"
)


@dataclass(frozen=True)
class Refund:
    """One refund as stored; ``units`` in the asset's base units, ``amount`` the same as a
    decimal string in the asset's unit."""

    id: str
    payment_id: str
    chain: str
    asset: str
    units: int
    amount: str
    reason: str
    status: str
    created_at: int
    updated_at: int
    fiat_amount: str | None = None
    currency: str | None = None
    rate: str | None = None
    rate_kind: str | None = None
    stray: bool = False
    address: str | None = None
    claim_hash: str | None = None
    claim_expires_at: int | None = None
    claimed_at: int | None = None
    force_debit: bool = False
    tx_hash: str | None = None

    def claimable(self, now: int) -> bool:
        """Its claim link can still take an address."""
        return (
            self.status == REQUESTED
            and self.address is None
            and self.claimed_at is None
            and self.claim_expires_at is not None
            and now < self.claim_expires_at
        )


@dataclass(frozen=True)
class RefundEvent:
    status: str
    detail: str
    at: int


def _refund(row: Row) -> Refund:
    return Refund(
        id=row["id"],
        payment_id=row["payment_id"],
        chain=row["chain"],
        asset=row["asset"],
        units=int(row["units"]),
        amount=row["amount"],
        reason=row["reason"],
        status=row["status"],
        created_at=int(row["created_at"]),
        updated_at=int(row["updated_at"]),
        fiat_amount=row["fiat_amount"],
        currency=row["currency"],
        rate=row["rate"],
        rate_kind=row["rate_kind"],
        stray=bool(row["stray"]),
        address=row["address"],
        claim_hash=row["claim_hash"],
        claim_expires_at=_int(row["claim_expires_at"]),
        claimed_at=_int(row["claimed_at"]),
        force_debit=bool(row["force_debit"]),
        tx_hash=row["tx_hash"],
    )


def _int(value: Any) -> int | None:
    return None if value is None else int(value)


def _values(r: Refund) -> tuple[Any, ...]:
    return (
        r.id,
        r.payment_id,
        r.chain,
        r.asset,
        str(r.units),
        r.amount,
        r.fiat_amount,
        r.currency,
        r.rate,
        r.rate_kind,
        int(r.stray),
        r.address,
        r.reason,
        r.status,
        r.claim_hash,
        r.claim_expires_at,
        r.claimed_at,
        int(r.force_debit),
        r.tx_hash,
        r.created_at,
        r.updated_at,
    )


async def _event(uow: UnitOfWork, refund_id: str, status: str, detail: str, at: int) -> None:
    await uow.execute(
        "INSERT INTO refund_events (refund_id, status, detail, at) VALUES (?, ?, ?, ?)",
        (refund_id, status, detail, at),
    )


class RefundStore:
    """Creates refunds within their cap, reads them, and moves them between states."""

    def __init__(self, db: Engine) -> None:
        self.db = db

    async def create(self, refund: Refund, cap_units: int) -> int | None:
        """Insert ``refund`` unless it would take the refunds of its payment and asset
        beyond ``cap_units``; None on success, else the units still refundable."""

        async def work(uow: UnitOfWork) -> int | None:
            # the payment's row is the lock every refund of the payment queues on
            await uow.fetchone(
                "SELECT id FROM payments WHERE id = ?" + uow.for_update, (refund.payment_id,)
            )
            held = await self._held(uow, refund.payment_id, refund.asset)
            if held + refund.units > cap_units:
                return max(cap_units - held, 0)
            placeholders = ", ".join("?" * len(_values(refund)))
            await uow.execute(
                f"INSERT INTO refunds ({_COLUMNS}) VALUES ({placeholders})", _values(refund)
            )
            await _event(uow, refund.id, refund.status, refund.reason, refund.created_at)
            return None

        return await self.db.transact(work)

    @staticmethod
    async def _held(uow: UnitOfWork, payment_id: str, asset: str) -> int:
        marks = ", ".join("?" * len(HOLDING))
        rows = await uow.fetchall(
            f"SELECT units FROM refunds WHERE payment_id = ? AND asset = ? AND status IN ({marks})",
            (payment_id, asset, *HOLDING),
        )
        return sum(int(r["units"]) for r in rows)

    async def held(self, payment_id: str, asset: str) -> int:
        """Units of ``asset`` given back, or on their way back, for one payment."""
        return await self.db.transact(lambda uow: self._held(uow, payment_id, asset))

    async def get(self, refund_id: str) -> Refund | None:
        row = await self.db.fetchone(f"SELECT {_COLUMNS} FROM refunds WHERE id = ?", (refund_id,))
        return None if row is None else _refund(row)

    async def by_claim(self, claim_hash: str) -> Refund | None:
        """The refund whose claim link has this token hash."""
        row = await self.db.fetchone(
            f"SELECT {_COLUMNS} FROM refunds WHERE claim_hash = ?", (claim_hash,)
        )
        return None if row is None else _refund(row)

    async def recent(
        self, payment_id: str | None, statuses: Iterable[str], limit: int, before: str | None
    ) -> list[Refund]:
        """Newest first; ``before`` pages on (created_at, id) of a refund already shown."""
        where: list[str] = []
        args: list[Any] = []
        if payment_id is not None:
            where.append("payment_id = ?")
            args.append(payment_id)
        wanted = list(statuses)
        if wanted:
            where.append(f"status IN ({', '.join('?' * len(wanted))})")
            args.extend(wanted)
        if before is not None:
            where.append(
                "(created_at < (SELECT created_at FROM refunds WHERE id = ?) OR"
                " (created_at = (SELECT created_at FROM refunds WHERE id = ?) AND id < ?))"
            )
            args.extend([before, before, before])
        sql = f"SELECT {_COLUMNS} FROM refunds"
        if where:
            sql += " WHERE " + " AND ".join(where)
        rows = await self.db.fetchall(
            sql + " ORDER BY created_at DESC, id DESC LIMIT ?", (*args, limit)
        )
        return [_refund(r) for r in rows]

    async def events(self, refund_id: str) -> list[RefundEvent]:
        rows = await self.db.fetchall(
            "SELECT status, detail, at FROM refund_events WHERE refund_id = ? ORDER BY id",
            (refund_id,),
        )
        return [RefundEvent(r["status"], r["detail"], int(r["at"])) for r in rows]

    async def move(
        self, refund_id: str, from_: Iterable[str], to: str, detail: str, at: int
    ) -> bool:
        """Compare-and-set the status; False when the refund was not in one of ``from_``."""
        before = list(from_)

        async def work(uow: UnitOfWork) -> bool:
            marks = ", ".join("?" * len(before))
            changed = await uow.execute(
                f"UPDATE refunds SET status = ?, updated_at = ? WHERE id = ? AND status IN ({marks})",
                (to, at, refund_id, *before),
            )
            if changed:
                await _event(uow, refund_id, to, detail, at)
            return changed > 0

        return await self.db.transact(work)

    async def claim(self, claim_hash: str, address: str, now: int) -> Refund | None:
        """Give a still requested refund the address its customer entered through an
        unexpired link; None when the link is unknown, used, expired or its refund no
        longer waits for an address."""

        async def work(uow: UnitOfWork) -> Refund | None:
            row = await uow.fetchone(
                f"SELECT {_COLUMNS} FROM refunds WHERE claim_hash = ?" + uow.for_update,
                (claim_hash,),
            )
            if row is None:
                return None
            r = _refund(row)
            if not r.claimable(now):
                return None
            await uow.execute(
                "UPDATE refunds SET address = ?, claimed_at = ?, updated_at = ? WHERE id = ?",
                (address, now, now, r.id),
            )
            await _event(uow, r.id, r.status, "address entered by the customer", now)
            return replace(r, address=address, claimed_at=now, updated_at=now)

        return await self.db.transact(work)

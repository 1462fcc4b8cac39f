"""The ``refunds`` and ``refund_events`` tables (migration ``250_refunds.sql``).

A refund is written with the cap it must respect in the same unit of work that locks its
payment's row: two refunds asked for at once can never together give back more than was
received. Every status change is a compare-and-set on the refund's status plus one
``refund_events`` row, so the history of a refund is its events in order.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
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
DAY = 86_400
# A refund in one of these states holds part of what the payment can still give back.
HOLDING = (REQUESTED, APPROVED, SENT, CONFIRMED)

_COLUMNS = (
    "id, payment_id, chain, asset, units, amount, fiat_amount, currency, rate, rate_kind,"
    " stray, address, reason, status, claim_hash, claim_expires_at, claimed_at, force_debit,"
    " approved_at, payout_method, sender, nonce, raw_tx, tx_hash, block_number, block_hash,"
    " watch_from, confirmed_at, fee_wei, created_at, updated_at"
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
    approved_at: int | None = None
    payout_method: str | None = None
    sender: str | None = None
    nonce: int | None = None
    raw_tx: str | None = None
    tx_hash: str | None = None
    block_number: int | None = None
    block_hash: str | None = None
    watch_from: int | None = None
    confirmed_at: int | None = None
    fee_wei: int | None = None

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
class SignedPayout:
    """A payout transaction signed by the payout wallet, not yet broadcast."""

    sender: str
    nonce: int
    tx_hash: str
    raw_tx: str


@dataclass(frozen=True)
class PayoutWallet:
    """The wallet that signs a payout: its address, the node's pending nonce for it, and
    its signing function (nonce -> the signed transaction)."""

    sender: str
    node_nonce: int
    sign: Callable[[int], SignedPayout]


class RefundRefused(Exception):
    """The refund cannot take this step; the message says why (shown to the caller)."""


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
        approved_at=_int(row["approved_at"]),
        payout_method=row["payout_method"],
        sender=row["sender"],
        nonce=_int(row["nonce"]),
        raw_tx=row["raw_tx"],
        tx_hash=row["tx_hash"],
        block_number=_int(row["block_number"]),
        block_hash=row["block_hash"],
        watch_from=_int(row["watch_from"]),
        confirmed_at=_int(row["confirmed_at"]),
        fee_wei=_int(row["fee_wei"]),
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
        r.approved_at,
        r.payout_method,
        r.sender,
        r.nonce,
        r.raw_tx,
        r.tx_hash,
        r.block_number,
        r.block_hash,
        r.watch_from,
        r.confirmed_at,
        None if r.fee_wei is None else str(r.fee_wei),
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

    async def cancel(self, refund_id: str, detail: str, now: int) -> bool:
        """Requested -> canceled, or approved -> canceled while no payout transaction was
        signed for it (a signed one may already be on its way); False otherwise."""

        async def work(uow: UnitOfWork) -> bool:
            changed = await uow.execute(
                "UPDATE refunds SET status = ?, updated_at = ? WHERE id = ?"
                " AND (status = ? OR (status = ? AND raw_tx IS NULL))",
                (CANCELED, now, refund_id, REQUESTED, APPROVED),
            )
            if changed:
                await _event(uow, refund_id, CANCELED, detail, now)
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

    async def approve(
        self,
        refund_id: str,
        now: int,
        method: str,
        day_cap: int | None,
        wallet: PayoutWallet | None = None,
        watch_from: int | None = None,
    ) -> Refund:
        """Move a requested refund to approved; with ``sign``, record its signed payout in
        the same unit of work (before anyone broadcasts it). ``day_cap``: the most units of
        its asset that refunds approved in the last 24 hours may add up to, this one
        included. Raises RefundRefused (``daily:<units left>`` when over the daily cap)."""

        async def work(uow: UnitOfWork) -> Refund:
            row = await uow.fetchone(
                f"SELECT {_COLUMNS} FROM refunds WHERE id = ?" + uow.for_update, (refund_id,)
            )
            if row is None:
                raise RefundRefused("refund not found")
            r = _refund(row)
            if r.status != REQUESTED:
                raise RefundRefused(f"refund is {r.status}: only a requested refund is approved")
            if r.address is None:
                raise RefundRefused("the customer has not entered an address yet")
            if day_cap is not None:
                spent = await _approved_since(uow, r.asset, now - DAY)
                if spent + r.units > day_cap:
                    raise RefundRefused(f"daily:{max(day_cap - spent, 0)}")
            signed = None
            if wallet is not None:
                nonce = await _next_nonce(uow, r.chain, wallet.sender)
                signed = wallet.sign(max(wallet.node_nonce, nonce))
            await uow.execute(
                "UPDATE refunds SET status = ?, approved_at = ?, payout_method = ?, sender = ?,"
                " nonce = ?, raw_tx = ?, tx_hash = ?, watch_from = ?, updated_at = ? WHERE id = ?",
                (
                    APPROVED,
                    now,
                    method,
                    signed.sender if signed else None,
                    signed.nonce if signed else None,
                    signed.raw_tx if signed else None,
                    signed.tx_hash if signed else None,
                    watch_from,
                    now,
                    r.id,
                ),
            )
            detail = f"payout {method}" + (f" tx {signed.tx_hash}" if signed else "")
            await _event(uow, r.id, APPROVED, detail, now)
            return replace(
                r,
                status=APPROVED,
                approved_at=now,
                payout_method=method,
                sender=signed.sender if signed else None,
                nonce=signed.nonce if signed else None,
                raw_tx=signed.raw_tx if signed else None,
                tx_hash=signed.tx_hash if signed else None,
                watch_from=watch_from,
                updated_at=now,
            )

        return await self.db.transact(work)

    async def in_flight(self) -> list[Refund]:
        """Approved and sent refunds: what the payout tracker watches."""
        rows = await self.db.fetchall(
            f"SELECT {_COLUMNS} FROM refunds WHERE status IN (?, ?) ORDER BY created_at, id",
            (APPROVED, SENT),
        )
        return [_refund(r) for r in rows]

    async def sent(self, refund: Refund, tx_hash: str, now: int) -> bool:
        """Approved -> sent: its transaction was accepted by the node (or, for an external
        payout, found on the chain)."""

        async def work(uow: UnitOfWork) -> bool:
            changed = await uow.execute(
                "UPDATE refunds SET status = ?, tx_hash = ?, updated_at = ?"
                " WHERE id = ? AND status = ?",
                (SENT, tx_hash, now, refund.id, APPROVED),
            )
            if changed:
                await _event(uow, refund.id, SENT, f"tx {tx_hash}", now)
            return changed > 0

        return await self.db.transact(work)

    async def scanned(self, refund: Refund, next_block: int, now: int) -> None:
        """An external payout was looked for up to ``next_block - 1``."""

        async def work(uow: UnitOfWork) -> None:
            await uow.execute(
                "UPDATE refunds SET watch_from = ? WHERE id = ? AND status = ?",
                (next_block, refund.id, APPROVED),
            )

        await self.db.transact(work)

    async def has_tx(self, chain: str, tx_hash: str) -> bool:
        """A refund already claims this transaction (one transfer pays one refund)."""
        row = await self.db.fetchone(
            "SELECT id FROM refunds WHERE chain = ? AND tx_hash = ?", (chain, tx_hash)
        )
        return row is not None

    async def seen_in(
        self, refund: Refund, block_number: int | None, block_hash: str | None, now: int
    ) -> None:
        """Where its transaction is mined now (None: no longer mined, a reorg took it)."""

        async def work(uow: UnitOfWork) -> None:
            await uow.execute(
                "UPDATE refunds SET block_number = ?, block_hash = ?, updated_at = ?"
                " WHERE id = ? AND status = ?",
                (block_number, block_hash, now, refund.id, SENT),
            )
            if block_hash is None:
                await _event(uow, refund.id, "reorged", f"tx {refund.tx_hash} left the chain", now)

        await self.db.transact(work)

    async def fail(self, refund: Refund, detail: str, now: int) -> bool:
        """Approved or sent -> failed: nothing was paid; the amount can be refunded again."""

        async def work(uow: UnitOfWork) -> bool:
            changed = await uow.execute(
                "UPDATE refunds SET status = ?, updated_at = ? WHERE id = ? AND status IN (?, ?)",
                (FAILED, now, refund.id, APPROVED, SENT),
            )
            if changed:
                await _event(uow, refund.id, FAILED, detail, now)
            return changed > 0

        return await self.db.transact(work)

    async def confirm_in(
        self, uow: UnitOfWork, refund_id: str, now: int, fee_wei: int | None = None
    ) -> bool:
        """Sent -> confirmed, inside the caller's unit of work (the payment's transition);
        ``fee_wei``: the gas the payout wallet paid."""
        changed = await uow.execute(
            "UPDATE refunds SET status = ?, confirmed_at = ?, fee_wei = ?, updated_at = ?"
            " WHERE id = ? AND status = ?",
            (CONFIRMED, now, None if fee_wei is None else str(fee_wei), now, refund_id, SENT),
        )
        if changed:
            await _event(uow, refund_id, CONFIRMED, "confirmed", now)
        return changed > 0

    async def confirm(self, refund_id: str, now: int, fee_wei: int | None = None) -> bool:
        """Sent -> confirmed on its own (a refund that changes no payment state)."""
        return await self.db.transact(lambda uow: self.confirm_in(uow, refund_id, now, fee_wei))

    async def confirmed_between(self, start: int, end: int) -> list[Refund]:
        """Refunds confirmed in ``[start, end)``, oldest first (the books)."""
        rows = await self.db.fetchall(
            f"SELECT {_COLUMNS} FROM refunds WHERE status = ? AND confirmed_at >= ?"
            " AND confirmed_at < ? ORDER BY confirmed_at, id",
            (CONFIRMED, start, end),
        )
        return [_refund(r) for r in rows]

    async def confirmed_units(self, payment_id: str, asset: str) -> int:
        rows = await self.db.fetchall(
            "SELECT units FROM refunds WHERE payment_id = ? AND asset = ? AND status = ?",
            (payment_id, asset, CONFIRMED),
        )
        return sum(int(r["units"]) for r in rows)


async def _approved_since(uow: UnitOfWork, asset: str, since: int) -> int:
    rows = await uow.fetchall(
        "SELECT units FROM refunds WHERE asset = ? AND approved_at >= ? AND status IN (?, ?, ?)",
        (asset, since, APPROVED, SENT, CONFIRMED),
    )
    return sum(int(r["units"]) for r in rows)


async def _next_nonce(uow: UnitOfWork, chain: str, sender: str) -> int:
    """One more than the highest nonce of a payout still in flight from the payout wallet
    (the node's pending count may not have seen it yet)."""
    row = await uow.fetchone(
        "SELECT MAX(nonce) AS n FROM refunds WHERE chain = ? AND sender = ? AND status IN (?, ?)",
        (chain, sender, APPROVED, SENT),
    )
    return 0 if row is None or row["n"] is None else int(row["n"]) + 1

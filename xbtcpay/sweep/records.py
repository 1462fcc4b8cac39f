"""Sweep records (tables of migration 004_sweeps): append-only facts and status events.

All SQL of the sweep feature lives here, so it can move onto another storage engine alone.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from xbtcpay.core.persistence import Engine, UnitOfWork
from xbtcpay.storage import payments
from xbtcpay.sweep.plan import PlanEntry

SENT, CONFIRMED, REORGED, FAILED = "sent", "confirmed", "reorged", "failed"


@dataclass(frozen=True)
class SweepRecord:
    """One sweep transaction and its latest status."""

    id: int
    tx_hash: str
    asset: str
    kind: str
    status: str
    block_number: int | None
    block_hash: str | None
    raw_tx: str
    addresses: tuple[str, ...]
    treasury: str = ""


@dataclass(frozen=True)
class ConfirmedSweep:
    """A confirmed sweep as the books see it: what it moved and what its gas cost."""

    id: int
    tx_hash: str
    asset: str
    treasury: str
    at: int  # when it was recorded confirmed
    units: int  # base units moved to the treasury
    fee_wei: int
    gas_used: int


@dataclass(frozen=True)
class IssuedAddress:
    """A deposit address with the payments it belongs to."""

    address: str
    index: int
    payment_ids: tuple[str, ...]
    open_payments: tuple[str, ...]


class SweepStore:
    """Reads and appends sweep records; reads what the plan needs of issued addresses and
    deposits."""

    def __init__(self, db: Engine) -> None:
        self.db = db

    async def issued(
        self, asset: str, now: int, late_window: int, *, funded: bool = False
    ) -> list[IssuedAddress]:
        """Every deposit address of ``asset`` with its payments, and those still payable.

        A payment is still payable while new or seen, and while expired within the late
        window (the watcher still credits it); such an address is never swept. ``funded``
        keeps only addresses that ever received a recorded deposit (the others hold nothing
        the watcher has seen, so nobody needs to ask the node about them).
        """
        rows = await payments.issued_addresses(self.db, asset, funded=funded)
        found: dict[str, tuple[int, list[str], list[str]]] = {}
        for r in rows:
            _, ids, still_open = found.setdefault(r["address"], (r["derivation_index"], [], []))
            ids.append(r["id"])
            payable = r["status"] in ("new", "seen") or (
                r["status"] == "expired"
                and (r["expires_at"] is None or r["expires_at"] + late_window >= now)
            )
            if payable:
                still_open.append(r["id"])
        return [IssuedAddress(a, i, tuple(ids), tuple(o)) for a, (i, ids, o) in found.items()]

    async def received(self) -> dict[str, int]:
        """Base units credited per asset by every deposit the watcher recorded."""
        rows = await self.db.fetchall("SELECT asset, units FROM deposits")
        totals: dict[str, int] = {}
        for r in rows:
            totals[r["asset"]] = totals.get(r["asset"], 0) + int(r["units"])
        return totals

    async def swept(self) -> dict[str, int]:
        """Base units moved to the treasury per asset by sweeps whose latest status is confirmed."""
        rows = await self.db.fetchall(
            "SELECT s.asset, a.units FROM sweeps s JOIN sweep_events e ON e.sweep_id = s.id"
            " JOIN sweep_amounts a ON a.event_id = e.id WHERE e.status = 'confirmed'"
            " AND e.id = (SELECT MAX(id) FROM sweep_events WHERE sweep_id = s.id)"
        )
        totals: dict[str, int] = {}
        for r in rows:
            totals[r["asset"]] = totals.get(r["asset"], 0) + int(r["units"])
        return totals

    async def in_flight(self) -> dict[str, int]:
        """Planned units per asset of sweeps sent but not yet confirmed, failed or reorged."""
        rows = await self.db.fetchall(
            "SELECT s.asset, i.planned_units FROM sweeps s JOIN sweep_items i ON i.sweep_id = s.id"
            " JOIN sweep_events e ON e.sweep_id = s.id WHERE e.status = 'sent'"
            " AND e.id = (SELECT MAX(id) FROM sweep_events WHERE sweep_id = s.id)"
        )
        totals: dict[str, int] = {}
        for r in rows:
            totals[r["asset"]] = totals.get(r["asset"], 0) + int(r["planned_units"])
        return totals

    async def confirmed_between(self, start: int, end: int) -> list[ConfirmedSweep]:
        """Sweeps whose latest status is ``confirmed``, recorded confirmed in ``[start, end)``
        (UNIX seconds), oldest first, with the units they moved and their fee: the sweep
        movements of a period for the books (the same sweeps ``swept`` counts)."""
        rows = await self.db.fetchall(
            "SELECT s.id, s.tx_hash, s.asset, s.treasury, e.id AS event_id, e.at, e.fee_wei,"
            " e.gas_used FROM sweeps s JOIN sweep_events e ON e.sweep_id = s.id"
            " WHERE e.status = 'confirmed' AND e.at >= ? AND e.at < ?"
            " AND e.id = (SELECT MAX(id) FROM sweep_events WHERE sweep_id = s.id)"
            " ORDER BY e.at, s.id",
            (start, end),
        )
        out = []
        for r in rows:
            amounts = await self.db.fetchall(
                "SELECT units FROM sweep_amounts WHERE event_id = ?", (r["event_id"],)
            )
            out.append(
                ConfirmedSweep(
                    int(r["id"]),
                    r["tx_hash"],
                    r["asset"],
                    r["treasury"],
                    int(r["at"]),
                    sum(int(a["units"]) for a in amounts),
                    int(r["fee_wei"] or 0),
                    int(r["gas_used"] or 0),
                )
            )
        return out

    async def gas_per_address(self) -> int | None:
        """Average gas per swept address over confirmed sweeps (None before the first)."""
        row = await self.db.fetchone(
            "SELECT SUM(e.gas_used) AS gas, SUM((SELECT COUNT(*) FROM sweep_items i"
            " WHERE i.sweep_id = e.sweep_id)) AS n FROM sweep_events e WHERE e.status = 'confirmed'"
            " AND e.id = (SELECT MAX(id) FROM sweep_events WHERE sweep_id = e.sweep_id)"
        )
        if row is None or not row["n"]:
            return None
        return int(row["gas"]) // int(row["n"])

    async def latest(self, status: str | None = None) -> list[SweepRecord]:
        """Every sweep with its latest status (optionally only those in ``status``)."""
        rows = await self.db.fetchall(
            "SELECT s.id, s.tx_hash, s.asset, s.kind, s.raw_tx, s.treasury, e.status,"
            " e.block_number, e.block_hash FROM sweeps s JOIN sweep_events e ON e.sweep_id = s.id"
            " WHERE e.id = (SELECT MAX(id) FROM sweep_events WHERE sweep_id = s.id) ORDER BY s.id"
        )
        records = []
        for r in rows:
            if status is not None and r["status"] != status:
                continue
            items = await self.db.fetchall(
                "SELECT address FROM sweep_items WHERE sweep_id = ? ORDER BY address", (r["id"],)
            )
            records.append(
                SweepRecord(
                    r["id"],
                    r["tx_hash"],
                    r["asset"],
                    r["kind"],
                    r["status"],
                    r["block_number"],
                    r["block_hash"],
                    r["raw_tx"],
                    tuple(i["address"] for i in items),
                    r["treasury"],
                )
            )
        return records

    async def record_sent(
        self,
        *,
        tx_hash: str,
        chain_id: int,
        asset: str,
        kind: str,
        treasury: str,
        sender: str,
        nonce: int,
        gas_limit: int,
        raw_tx: str,
        entries: Sequence[PlanEntry],
    ) -> int:
        """Record a sweep about to be broadcast, with its addresses; return its id.

        The same transaction again (its bytes, hence its hash, are identical after a reorg
        dropped it) keeps its record and gets a new ``sent`` event.
        """
        now = int(time.time())

        async def work(uow: UnitOfWork) -> int:
            known = await uow.fetchone("SELECT id FROM sweeps WHERE tx_hash = ?", (tx_hash,))
            if known is not None:
                await _event(uow, int(known["id"]), SENT, now)
                return int(known["id"])
            row = await uow.fetchone(
                "INSERT INTO sweeps (tx_hash, chain_id, asset, kind, treasury, sender, nonce,"
                " gas_limit, raw_tx, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " RETURNING id",
                (tx_hash, chain_id, asset, kind, treasury, sender, nonce, gas_limit, raw_tx, now),
            )
            assert row is not None
            sweep_id = int(row["id"])
            await uow.executemany(
                "INSERT INTO sweep_items (sweep_id, address, derivation_index, planned_units,"
                " payment_ids) VALUES (?, ?, ?, ?, ?)",
                [
                    (
                        sweep_id,
                        e.address.lower(),
                        e.index,
                        str(e.balance),
                        json.dumps(list(e.payment_ids)),
                    )
                    for e in entries
                ],
            )
            await _event(uow, sweep_id, SENT, now)
            return sweep_id

        return await self.db.transact(work)

    async def record_status(
        self,
        sweep_id: int,
        status: str,
        *,
        block_number: int | None = None,
        block_hash: str | None = None,
        gas_used: int | None = None,
        fee_wei: int | None = None,
        detail: str | None = None,
        amounts: Mapping[str, int] | None = None,
    ) -> None:
        """Append a status event (with the units moved, for ``confirmed``)."""
        now = int(time.time())

        async def work(uow: UnitOfWork) -> None:
            event_id = await _event(
                uow,
                sweep_id,
                status,
                now,
                block_number,
                block_hash,
                gas_used,
                None if fee_wei is None else str(fee_wei),
                detail,
            )
            for address, units in (amounts or {}).items():
                await uow.execute(
                    "INSERT INTO sweep_amounts (event_id, address, units) VALUES (?, ?, ?)",
                    (event_id, address.lower(), str(units)),
                )

        await self.db.transact(work)


async def _event(
    uow: UnitOfWork,
    sweep_id: int,
    status: str,
    now: int,
    block_number: int | None = None,
    block_hash: str | None = None,
    gas_used: int | None = None,
    fee_wei: str | None = None,
    detail: str | None = None,
) -> int:
    row = await uow.fetchone(
        "INSERT INTO sweep_events (sweep_id, status, block_number, block_hash, gas_used, fee_wei,"
        " detail, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        (sweep_id, status, block_number, block_hash, gas_used, fee_wei, detail, now),
    )
    assert row is not None
    return int(row["id"])

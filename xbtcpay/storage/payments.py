"""Payments (the ``payments`` table), on either engine.

Module functions taking a ``UnitOfWork`` are the writes a caller composes into one commit
(``insert_payment``, ``compare_and_set``) and the reads other
features make inside their own units; functions taking an ``Engine`` are reads outside of
one. ``PaymentStore`` is the core's ``PaymentRepository``: the reads and the single-unit
conveniences built on them, the event log included (``payment_events.py``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import fields, replace
from decimal import Decimal
from typing import Any

from xbtcpay.core.models import CRYPTO, Payment, decimal_of
from xbtcpay.core.persistence import Engine, EventRow, InsertHook, Row, UnitOfWork
from xbtcpay.core.state import State
from xbtcpay.storage import derivation_indexes, payment_events
from xbtcpay.storage.point_batch import KeyBatcher
from xbtcpay.storage.postgres import PostgresDatabase
from xbtcpay.storage.sql import compact_json, marks, open_states

_BOOL = {"late", "overpaid", "reorged"}
_DECIMAL = {"amount", "amount_received", "amount_refunded"}
_COLUMNS = [f.name for f in fields(Payment)]
_STATES = {state.value: state for state in State}


def row_to_payment(row: Any) -> Payment:
    """The Payment a stored row holds (a ``sqlite3.Row``, an asyncpg ``Record`` or a dict).

    This runs once per status.json cache miss, so it avoids what costs most there: reading a
    ``sqlite3.Row`` by name (zipped with its keys once instead), ``Decimal`` under a local
    context (constructing a Decimal from its text is exact in any context: it never rounds),
    and the frozen dataclass's ``__init__``, which sets each of ~30 fields through
    ``object.__setattr__``. The fields are put into the new object's ``__dict__`` directly;
    ``Payment`` has no ``__post_init__`` and every field comes from the row, so the result
    equals ``Payment(**values)`` (``tests/core/test_storage.py`` checks this).
    """
    if isinstance(row, dict):
        raw: dict[str, Any] = row
    else:
        raw = dict(zip(row.keys(), row, strict=True))
    values = {name: raw[name] for name in _COLUMNS}
    for name in _DECIMAL:
        text = values[name]
        values[name] = text if isinstance(text, Decimal) else Decimal(text)
    for name in _BOOL:
        values[name] = bool(values[name])
    values["status"] = _STATES[values["status"]]
    values["extra"] = json.loads(values["extra"])
    events = values["postback_events"]
    values["postback_events"] = tuple(json.loads(events)) if events else None
    payment = object.__new__(Payment)
    payment.__dict__.update(values)
    return payment


def to_column(name: str, value: Any) -> Any:
    if isinstance(value, Decimal):
        return format(value, "f")
    if name in _BOOL:
        return int(bool(value))
    if name == "extra":
        return compact_json(dict(value))
    if name == "postback_events":
        return None if value is None else json.dumps(list(value))
    if isinstance(value, State):
        return value.value
    return value


_INSERT = f"INSERT INTO payments ({', '.join(_COLUMNS)}) VALUES ({marks(_COLUMNS)})"


async def insert_payment(uow: UnitOfWork, payment: Payment) -> None:
    """Insert one payment row (a taken order_id or address raises ConstraintViolation)."""
    await uow.execute(_INSERT, [to_column(c, getattr(payment, c)) for c in _COLUMNS])


async def compare_and_set(uow: UnitOfWork, current: Payment, changes: Mapping[str, Any]) -> bool:
    """Apply ``changes`` only if the row still has ``current``'s (status, version);
    the version goes up by one. False when another writer got there first."""
    sets = ", ".join(f"{k} = ?" for k in changes)
    changed = await uow.execute(
        f"UPDATE payments SET {sets}, version = version + 1"
        " WHERE id = ? AND status = ? AND version = ?",
        [
            *(to_column(k, v) for k, v in changes.items()),
            current.id,
            current.status.value,
            current.version,
        ],
    )
    return changed == 1


async def status_of(uow: UnitOfWork, payment_id: str) -> tuple[str, str | None] | None:
    """A payment's status and reason (None for an unknown id), read in the caller's unit."""
    row = await uow.fetchone("SELECT status, reason FROM payments WHERE id = ?", (payment_id,))
    return None if row is None else (row["status"], row["reason"])


async def issued_addresses(engine: Engine, asset: str, *, funded: bool = False) -> list[Row]:
    """Every crypto payment of ``asset`` that was given an address, by derivation index:
    ``id, address, derivation_index, status, expires_at``. ``funded`` keeps only addresses
    that ever received a recorded deposit of ``asset``."""
    funded_only = " AND address IN (SELECT address FROM deposits WHERE asset = ?)" if funded else ""
    return await engine.fetchall(
        "SELECT id, address, derivation_index, status, expires_at FROM payments"
        " WHERE method = ? AND asset = ? AND address IS NOT NULL"
        + funded_only
        + " ORDER BY derivation_index",
        (CRYPTO, asset, asset) if funded else (CRYPTO, asset),
    )


# The end of an invoice's current (last) quote, ``extra.invoice.quotes[-1].expires_at``, as
# each engine reads it from the JSON text of ``extra`` (NULL when the row has none).
_QUOTE_ENDS = {
    "sqlite": "json_extract(extra, '$.invoice.quotes[#-1].expires_at')",
    "postgresql": "(extra::jsonb #>> '{invoice,quotes,-1,expires_at}')::bigint",
}


class PaymentStore:
    """Reads of payments and events; single-unit writes built on the functions above."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._batch: KeyBatcher[str] | None = None
        # PostgreSQL: indexes from blocks reserved apart (see derivation_indexes)
        self._blocks = (
            derivation_indexes.IndexBlocks(engine.transact_apart)
            if isinstance(engine, PostgresDatabase)
            else None
        )

    @property
    def db(self) -> Engine:
        return self.engine

    async def insert(
        self,
        payment: Payment,
        event: EventRow,
        derive_address: Callable[[int], str] | None = None,
        first_index: int = 0,
        hooks: Sequence[InsertHook] = (),
    ) -> Payment:
        """Insert ``payment`` with its creation event; allocate an address when asked."""

        reserved = None
        if derive_address is not None and self._blocks is not None:
            reserved = await self._blocks.take(first_index)

        async def work(uow: UnitOfWork) -> Payment:
            p = payment
            if derive_address is not None:
                index = reserved
                if index is None:
                    index = await derivation_indexes.next_index(uow, first_index)
                p = replace(p, derivation_index=index, address=derive_address(index).lower())
            await insert_payment(uow, p)
            await payment_events.append_event(uow, p.id, event)
            for hook in hooks:
                await hook(uow, p)
            return p

        return await self.engine.transact(work)

    async def compare_and_set(
        self, uow: UnitOfWork, current: Payment, changes: Mapping[str, Any]
    ) -> bool:
        return await compare_and_set(uow, current, changes)

    async def append_event(self, uow: UnitOfWork, payment_id: str, event: EventRow) -> None:
        await payment_events.append_event(uow, payment_id, event)

    async def get(self, payment_id: str) -> Payment | None:
        batch = self._batch or self._batcher()
        if batch is not None and isinstance(payment_id, str) and "\x00" not in payment_id:
            row = await batch.get(payment_id)  # with the other ids asked for meanwhile
        else:
            row = await self.engine.point("SELECT * FROM payments WHERE id = ?", (payment_id,))
        return row_to_payment(row) if row else None

    def _batcher(self) -> KeyBatcher[str] | None:
        """On PostgreSQL with point-read connections: reads of payments by id asked for
        while others are in flight go together, one statement per batch (point_batch.py)."""
        engine = self.engine
        if not isinstance(engine, PostgresDatabase) or not engine.point_lanes:
            return None

        async def read_many(ids: list[str]) -> list[Any]:
            return await engine.point_rows("SELECT * FROM payments WHERE id = ANY(?)", (ids,))

        self._batch = KeyBatcher(read_many, lambda row: row["id"], engine.point_lanes)
        return self._batch

    async def get_by_order_id(self, order_id: str) -> Payment | None:
        row = await self.engine.fetchone("SELECT * FROM payments WHERE order_id = ?", (order_id,))
        return row_to_payment(row) if row else None

    async def get_by_provider_ref(self, method: str, ref: str) -> Payment | None:
        row = await self.engine.fetchone(
            "SELECT * FROM payments WHERE method = ? AND provider_ref = ?", (method, ref)
        )
        return row_to_payment(row) if row else None

    async def invoices_due(self, now: int, after: str = "", limit: int = 1000) -> list[Payment]:
        """Open invoices priced in fiat (status ``new``, not past their expiry) whose current
        quote has ended by ``now``, by id from ``after``: the ones whose quote may need
        renewing. The quote's end is read by the database from the stored JSON, so the
        leader's look every few seconds costs a scan in C, not every open invoice's row
        decoded (the caller still checks each one it gets)."""
        rows = await self.engine.fetchall(
            "SELECT * FROM payments WHERE status = ? AND method = ? AND extra LIKE ?"
            f" AND {_QUOTE_ENDS[self.engine.dialect]} <= ?"
            " AND (expires_at IS NULL OR expires_at > ?) AND id > ? ORDER BY id LIMIT ?",
            (State.NEW.value, CRYPTO, '%"invoice"%', now, now, after, limit),
        )
        return [row_to_payment(r) for r in rows]

    async def search(
        self,
        *,
        status: str | None = None,
        method: str | None = None,
        asset: str | None = None,
        customer: str | None = None,
        assets: Sequence[str] | None = None,
        created_after: int | None = None,
        created_before: int | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[Payment]:
        """Newest first; ``assets`` keeps the payments in one of them (a chain's assets)."""
        where: list[str] = []
        args: list[Any] = []
        if assets is not None:
            if not assets:
                return []
            where.append(f"asset IN ({', '.join('?' * len(assets))})")
            args.extend(assets)
        for column, value in (
            ("status", status),
            ("method", method),
            ("asset", asset),
            ("customer", customer),
        ):
            if value is not None:
                where.append(f"{column} = ?")
                args.append(value)
        if created_after is not None:
            where.append("created_at >= ?")
            args.append(created_after)
        if created_before is not None:
            where.append("created_at < ?")
            args.append(created_before)
        sql = "SELECT * FROM payments"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY created_at DESC, id LIMIT ? OFFSET ?"
        rows = await self.engine.fetchall(sql, [*args, limit, offset])
        return [row_to_payment(r) for r in rows]

    async def find(self, term: str, limit: int = 100) -> list[Payment]:
        """Payments a term names exactly: id, deposit address, order id, transaction hash
        (the payment's or any of its deposits') or customer; newest first."""
        lowered = term.lower()
        rows = await self.engine.fetchall(
            "SELECT * FROM payments WHERE id = ? OR address = ? OR order_id = ?"
            " OR tx_hash = ? OR customer = ?"
            " OR id IN (SELECT payment_id FROM deposits WHERE tx_hash = ?)"
            " ORDER BY created_at DESC, id LIMIT ?",
            (term, lowered, term, lowered, term, lowered, limit),
        )
        return [row_to_payment(r) for r in rows]

    async def paid_since(self, since: int) -> list[tuple[str, Decimal, int]]:
        """(asset, amount received, paid at) of the payments paid at or after ``since``
        (the dashboard's volumes, summed exactly by the caller)."""
        rows = await self.engine.fetchall(
            "SELECT asset, amount_received, paid_at FROM payments"
            " WHERE paid_at IS NOT NULL AND paid_at >= ? ORDER BY paid_at",
            (since,),
        )
        return [(r[0], decimal_of(r[1]), int(r[2])) for r in rows]

    async def provider_paid_between(self, start: int, end: int) -> list[Payment]:
        """Payments of provider plugins (cards, app stores, in-app) paid in ``[start, end)``
        (UNIX seconds), oldest first: the provider movements of a period for the books."""
        rows = await self.engine.fetchall(
            "SELECT * FROM payments WHERE method <> ? AND paid_at IS NOT NULL"
            " AND paid_at >= ? AND paid_at < ? ORDER BY paid_at, id",
            (CRYPTO, start, end),
        )
        return [row_to_payment(r) for r in rows]

    async def get_many(self, payment_ids: Sequence[str]) -> dict[str, Payment]:
        """The payments of ``payment_ids`` that exist, by id."""
        found: dict[str, Payment] = {}
        ids = list(dict.fromkeys(payment_ids))
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            rows = await self.engine.fetchall(
                f"SELECT * FROM payments WHERE id IN ({marks(chunk)})", chunk
            )
            found.update((r["id"], row_to_payment(r)) for r in rows)
        return found

    async def open_expired(self, now: int, limit: int = 500) -> list[Payment]:
        states = open_states()
        rows = await self.engine.fetchall(
            f"SELECT * FROM payments WHERE status IN ({marks(states)})"
            " AND expires_at IS NOT NULL AND expires_at <= ? ORDER BY expires_at LIMIT ?",
            (*states, now, limit),
        )
        return [row_to_payment(r) for r in rows]

    async def pending_for_method(self, method: str, limit: int) -> list[Payment]:
        states = open_states()
        rows = await self.engine.fetchall(
            f"SELECT * FROM payments WHERE method = ? AND status IN ({marks(states)})"
            " ORDER BY created_at LIMIT ?",
            (method, *states, limit),
        )
        return [row_to_payment(r) for r in rows]

    async def count_by_status(self) -> dict[str, int]:
        rows = await self.engine.fetchall("SELECT status, COUNT(*) FROM payments GROUP BY status")
        return {r[0]: int(r[1]) for r in rows}

    async def versions_since(self, since: int) -> list[tuple[str, int, int]]:
        """(id, version, updated_at) of the payments updated at or after ``since`` (the
        replicas' status feed, from its cursor; an index on ``updated_at``)."""
        rows = await self.engine.fetchall(
            "SELECT id, version, updated_at FROM payments WHERE updated_at >= ?", (since,)
        )
        return [(r["id"], int(r["version"]), int(r["updated_at"])) for r in rows]

    async def events(self, payment_id: str) -> list[dict[str, Any]]:
        return await payment_events.events_of(self.engine, payment_id)

    async def dedupe_seen(self, key: str) -> bool:
        return await payment_events.dedupe_seen(self.engine, key)

    async def claim(self, key: str, now: int) -> bool:
        async def work(uow: UnitOfWork) -> bool:
            return (
                await uow.execute(
                    "INSERT INTO claims (key, claimed_at) VALUES (?, ?)"
                    " ON CONFLICT (key) DO NOTHING",
                    (key, now),
                )
                == 1
            )

        return await self.engine.transact(work)

"""``xbtcpay db copy SOURCE_URL TARGET_URL``: move an installation between engines, verified.

Every table the migrations created (payments, events, claims, postbacks and attempts,
counters with the derivation index, chain cursor, block hashes, deposits, dirty marks) is
copied in primary-key order, in chunks, into an empty, migrated target. PostgreSQL
sequences are moved past the copied ids. The verify step then compares, per table, the row
count and an order-independent checksum (the sum of a SHA-256 per row over its values in a
canonical form), read back from both databases.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from xbtcpay.core.errors import StorageError
from xbtcpay.core.persistence import Engine, Row, UnitOfWork

# Parents before children (foreign keys). Rows are paged by each table's primary key.
TABLES: tuple[str, ...] = (
    "payments",
    "payment_events",
    "claims",
    "postbacks",
    "postback_attempts",
    "counters",
    "chain_cursor",
    "chain_blocks",
    "deposits",
    "chain_dirty",
)
TABLES += ("stray_deposits",)  # several chains (012_chains.sql)
# the commerce layer's (010_commerce.sql)
TABLES += ("ledger_entries", "balances", "receipt_sequences", "issued_receipts", "purchases")
# subscriptions, entitlements, vouchers, transactions (110_subscriptions.sql)
TABLES += (
    "subscriptions",
    "subscription_events",
    "subscription_payments",
    "commerce_transactions",
    "entitlements",
    "item_buys",
    "vouchers",
    "voucher_redemptions",
    "discounts",
    "subscription_cursor",
)
# sweeps of deposit addresses to the treasury (004_sweeps.sql)
TABLES += ("sweeps", "sweep_items", "sweep_events", "sweep_amounts")
# the private port's API keys (230_api_keys.sql)
TABLES += ("api_keys",)
# the dashboard's users and audit log (231_admin.sql); sessions and failed logins are
# short-lived and left behind: a copied installation starts with everyone logged out
TABLES += ("admin_users", "admin_audit")
# refunds of crypto payments and their history (250_refunds.sql)
TABLES += ("refunds", "refund_events")
CHUNK = 2000
# Columns that mean something only in the database that wrote them, written NULL in the
# copy (as in rows older than their migration): the inserting transaction's id of payments
# and payment events (another cluster's numbering, or the copy's own; see chain_store and
# payment_events)
_LOCAL = {("payments", "created_xid"), ("payment_events", "created_xid")}
_MOD = 1 << 256


@dataclass(frozen=True)
class TableCheck:
    table: str
    source_rows: int
    target_rows: int
    source_sum: str
    target_sum: str

    @property
    def ok(self) -> bool:
        return self.source_rows == self.target_rows and self.source_sum == self.target_sum


def _canonical(value: Any) -> Any:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def row_digest(values: Sequence[Any]) -> int:
    text = json.dumps([_canonical(v) for v in values], separators=(",", ":"), default=str)
    return int.from_bytes(hashlib.sha256(text.encode()).digest(), "big")


async def table_columns(engine: Engine, table: str) -> list[str]:
    if engine.dialect == "sqlite":
        rows = await engine.fetchall(f"PRAGMA table_info({table})")
        return [r["name"] for r in sorted(rows, key=lambda r: r["cid"])]
    rows = await engine.fetchall(
        "SELECT column_name FROM information_schema.columns WHERE table_schema ="
        " current_schema() AND table_name = ? ORDER BY ordinal_position",
        (table,),
    )
    return [r[0] for r in rows]


async def primary_key(engine: Engine, table: str, columns: list[str]) -> list[str]:
    """The primary-key columns of ``table`` in key order (every column if it has none)."""
    if engine.dialect == "sqlite":
        rows = await engine.fetchall(f"PRAGMA table_info({table})")
        key = [r["name"] for r in sorted(rows, key=lambda r: r["pk"]) if r["pk"]]
    else:
        rows = await engine.fetchall(
            "SELECT k.column_name FROM information_schema.table_constraints c"
            " JOIN information_schema.key_column_usage k ON k.constraint_name = c.constraint_name"
            " AND k.table_schema = c.table_schema WHERE c.table_schema = current_schema()"
            " AND c.table_name = ? AND c.constraint_type = 'PRIMARY KEY'"
            " ORDER BY k.ordinal_position",
            (table,),
        )
        key = [r[0] for r in rows]
    return key or list(columns)


async def _chunks(engine: Engine, table: str, columns: list[str]) -> Any:
    """Rows of ``table`` in primary-key order, CHUNK at a time (keyset pagination over the
    whole key: a composite key's first column alone would skip rows at chunk boundaries)."""
    key = await primary_key(engine, table, columns)
    at = [columns.index(k) for k in key]
    cols, order = ", ".join(columns), ", ".join(key)
    after = f" WHERE ({order}) > ({', '.join('?' for _ in key)})"
    last: list[Any] | None = None
    while True:
        rows: list[Row] = await engine.fetchall(
            f"SELECT {cols} FROM {table}{'' if last is None else after} ORDER BY {order} LIMIT ?",
            [*(last or []), CHUNK],
        )
        if not rows:
            return
        yield rows
        last = [rows[-1][i] for i in at]


async def checksum(engine: Engine, table: str, columns: list[str]) -> tuple[int, str]:
    """(rows, checksum) of one table."""
    count, total = 0, 0
    async for rows in _chunks(engine, table, columns):
        for row in rows:
            total = (total + row_digest([row[i] for i in range(len(columns))])) % _MOD
        count += len(rows)
    return count, f"{total:064x}"


async def _require_empty(target: Engine) -> None:
    for table in TABLES:
        row = await target.fetchone(f"SELECT COUNT(*) FROM {table}")
        if row is not None and int(row[0]) > 0:
            raise StorageError(f"target database is not empty (table {table})")


async def _copy_table(source: Engine, target: Engine, table: str, columns: list[str]) -> int:
    local = sorted(c for t, c in _LOCAL if t == table)  # written NULL, not the default
    cols = ", ".join([*columns, *local])
    marks = ", ".join(["?"] * len(columns) + ["NULL"] * len(local))
    copied = 0
    async for rows in _chunks(source, table, columns):
        batch = [[row[i] for i in range(len(columns))] for row in rows]

        async def work(uow: UnitOfWork, batch: list[list[Any]] = batch) -> None:
            await uow.executemany(f"INSERT INTO {table} ({cols}) VALUES ({marks})", batch)

        await target.transact(work)
        copied += len(batch)
    return copied


async def _advance_sequences(target: Engine, table: str, columns: list[str]) -> None:
    if target.dialect != "postgresql":
        return
    for column in columns:
        row = await target.fetchone("SELECT pg_get_serial_sequence(?, ?)", (table, column))
        if row is None or row[0] is None:
            continue
        sequence = row[0]

        async def work(uow: UnitOfWork, column: str = column, sequence: str = sequence) -> None:
            await uow.execute(
                f"SELECT setval(?::regclass, COALESCE((SELECT MAX({column}) FROM {table}), 0)"
                " + 1, false)",
                (sequence,),
            )

        await target.transact(work)


async def copy_database(
    source: Engine, target: Engine, progress: Callable[[str], None] = lambda line: None
) -> list[TableCheck]:
    """Copy every table from ``source`` into the empty ``target``; return the verify table."""
    await _require_empty(target)
    layout: dict[str, list[str]] = {}
    for table in TABLES:
        columns = await table_columns(source, table)
        if columns != await table_columns(target, table):
            raise StorageError(f"table {table} differs between source and target schemas")
        columns = [c for c in columns if (table, c) not in _LOCAL]
        layout[table] = columns
        copied = await _copy_table(source, target, table, columns)
        await _advance_sequences(target, table, columns)
        progress(f"copied {table}: {copied} rows")
    return await verify(source, target, layout)


async def verify(source: Engine, target: Engine, layout: dict[str, list[str]]) -> list[TableCheck]:
    """Counts and checksums per table, read back from both databases."""
    checks = []
    for table, columns in layout.items():
        src_rows, src_sum = await checksum(source, table, columns)
        dst_rows, dst_sum = await checksum(target, table, columns)
        checks.append(TableCheck(table, src_rows, dst_rows, src_sum, dst_sum))
    return checks

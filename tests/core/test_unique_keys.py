"""The unique keys that make money idempotent, pinned in the schema and in behaviour.

Each key turns a repeated report into a refused insert inside the writing transaction, so a
replayed webhook, a re-scanned block or a retried start_payment can never count money twice.
"""

from __future__ import annotations

import sqlite3
from decimal import Decimal
from pathlib import Path

from tests import pg
from tests.harness import running_daemon
from xbtcpay.core.models import NewPayment, PaymentEvent
from xbtcpay.core.state import Event

# (table, columns) of every unique key; written out by hand, not read from the migrations.
EXPECTED_UNIQUE = sorted(
    [
        ("payments", ("id",)),  # the payment id handed to the shop
        ("payments", ("address",)),  # one deposit address, one payment
        ("payments", ("derivation_index",)),  # one xpub index, one address
        ("payments", ("order_id",)),  # a retried start_payment gets the same one
        ("payments", ("method", "provider_ref")),  # one provider transaction, one payment
        ("payment_events", ("event_id",)),  # the postback's event id
        ("payment_events", ("dedupe_key",)),  # provider event ids, tx ids, log keys
        ("postbacks", ("event_id",)),  # one postback per event
        ("deposits", ("key",)),  # (block hash, log index): counted once
        ("claims", ("key",)),
        ("counters", ("name",)),
        ("chain_dirty", ("payment_id",)),
        ("chain_cursor", ("chain",)),  # one scan position per chain (012)
        ("chain_blocks", ("chain", "number")),  # one stored header per block of a chain
        ("stray_deposits", ("key",)),  # a stray deposit is recorded once, like a deposit
        ("schema_migrations", ("name",)),
        ("cluster_lease", ("name",)),  # one leader lease per name
        # commerce (010): the ledger, balances, receipts, purchases
        ("ledger_entries", ("id",)),
        ("ledger_entries", ("idempotency_key",)),  # a retried credit or debit books once
        ("ledger_entries", ("customer", "currency", "seq")),  # one entry per account position
        ("balances", ("account",)),
        ("balances", ("customer", "currency")),  # one cached balance per account
        ("receipt_sequences", ("company",)),  # one gapless counter per company
        ("issued_receipts", ("number",)),
        ("issued_receipts", ("view_token",)),
        ("issued_receipts", ("company", "seq")),  # no receipt number issued twice
        ("issued_receipts", ("payment_id",)),  # one receipt per payment (kind receipt)
        ("purchases", ("id",)),
        ("purchases", ("customer", "purchase_token")),  # a retried purchase charges once
        # subscriptions and vouchers (110)
        ("subscriptions", ("id",)),
        ("subscriptions", ("provider", "provider_ref")),  # one provider subscription, one row
        ("subscription_events", ("dedupe_key",)),  # a provider event applies once
        ("subscription_payments", ("provider", "reference")),  # a renewal is counted once
        ("commerce_transactions", ("provider", "reference")),  # a store transaction recorded once
        ("entitlements", ("source",)),  # one grant per source
        ("item_buys", ("customer", "item", "streamtype", "via")),  # a buy registered once
        ("vouchers", ("code_hash",)),
        ("vouchers", ("reference_hash",)),
        ("discounts", ("source",)),  # one discount per source
        ("subscription_cursor", ("name",)),
        ("voucher_attempts", ("key",)),  # one attempt window per limiter key (111)
        # sweeps (004)
        ("sweeps", ("tx_hash",)),  # one record per sweep transaction
        ("sweep_items", ("sweep_id", "address")),  # an address once in a sweep
        ("sweep_amounts", ("event_id", "address")),  # an address's amount once per event
        ("api_keys", ("id",)),  # the key's id, the part of the key that finds its hash (230)
        # the dashboard (231)
        ("admin_users", ("name",)),
        ("admin_sessions", ("token_hash",)),  # one row per session cookie
        ("admin_login_failures", ("key",)),  # one failure window per limiter key
        # refunds and payouts (250)
        ("refunds", ("id",)),
        ("refunds", ("claim_hash",)),  # a claim link belongs to one refund
        ("refunds", ("chain", "tx_hash")),  # a payout transaction settles one refund
    ]
)


def unique_keys(db_path: Path) -> list[tuple[str, tuple[str, ...]]]:
    """(table, columns) of every unique key, read from the database itself."""
    if pg.on_postgresql():
        return _unique_keys_postgresql(db_path)
    conn = sqlite3.connect(db_path)
    try:
        tables = [
            r[0]
            for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            )
        ]
        found = []
        for table in tables:
            for _, name, unique, *_ in conn.execute(f"PRAGMA index_list({table})"):
                if unique:
                    cols = tuple(r[2] for r in conn.execute(f"PRAGMA index_info({name})"))
                    found.append((table, cols))
        return sorted(found)
    finally:
        conn.close()


PG_UNIQUE = """
SELECT t.relname AS tbl, i.indisprimary AS pk,
       array_agg(a.attname::text ORDER BY k.ord) AS cols,
       array_agg(format_type(a.atttypid, a.atttypmod) ORDER BY k.ord) AS types
FROM pg_index i
JOIN pg_class t ON t.oid = i.indrelid
JOIN pg_namespace n ON n.oid = t.relnamespace
CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum
WHERE i.indisunique AND n.nspname = current_schema()
GROUP BY t.relname, i.indexrelid, i.indisprimary
"""


def _unique_keys_postgresql(db_path: Path) -> list[tuple[str, tuple[str, ...]]]:
    """The same keys on PostgreSQL. A one-column integer primary key is SQLite's rowid (no
    index there), so it is left out here too and both engines answer the same list."""
    found = []
    for row in pg.query(db_path, PG_UNIQUE):
        rowid = row["pk"] and len(row["cols"]) == 1 and row["types"][0] in ("bigint", "integer")
        if not rowid:
            found.append((str(row["tbl"]), tuple(str(c) for c in row["cols"])))
    return sorted(found)


async def test_schema_has_exactly_the_expected_unique_keys(tmp_path: Path) -> None:
    async with running_daemon(tmp_path):
        pass
    assert unique_keys(tmp_path / "xbtcpay.db") == EXPECTED_UNIQUE


def _fiat(ref: str | None = None, order_id: str | None = None) -> NewPayment:
    return NewPayment(
        method="stripe", asset="USD", amount=Decimal("9.99"), provider_ref=ref, order_id=order_id
    )


async def test_one_provider_reference_makes_one_payment(tmp_path: Path) -> None:
    async with running_daemon(tmp_path) as d:
        first = await d.processor.create(_fiat("pi_123"))
        again = await d.processor.create(_fiat("pi_123"))  # a redelivery of the same one
        assert again.id == first.id
        assert (await d.processor.create(_fiat("pi_456"))).id != first.id
        await d.processor.create(_fiat(None))
        await d.processor.create(_fiat(None))  # no reference yet: not a duplicate
        assert await d.runtime.payments.count_by_status() == {"new": 4}


async def test_one_dedupe_key_is_applied_once_across_payments(tmp_path: Path) -> None:
    async with running_daemon(tmp_path) as d:
        first, second = await d.processor.create(_fiat()), await d.processor.create(_fiat())
        event = PaymentEvent(
            Event.PAID, dedupe_key="provider:tx:1", amount_received=Decimal("9.99")
        )
        assert (await d.processor.apply(first.id, event)).changed
        again = await d.processor.apply(second.id, event)
        assert again.duplicate and not again.changed
        assert (await d.processor.get(second.id)).status.value == "new"

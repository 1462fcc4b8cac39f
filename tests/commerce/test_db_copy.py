"""``xbtcpay db copy`` carries the commerce tables: balances, ledger, receipts, purchases."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest

from tests.commerce.setup import commerce
from tests.harness import running_daemon
from xbtcpay.storage import copy
from xbtcpay.storage.engines import open_engine
from xbtcpay.storage.pg_server import PgServer


async def test_a_commerce_installation_moves_to_postgresql_verified(
    tmp_path: Path, postgres: PgServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(copy, "CHUNK", 3)  # several pages per table, keyset paging
    sqlite_url = f"sqlite:///{tmp_path}/old.db"
    async with running_daemon(tmp_path, commerce(database=sqlite_url)) as d:
        for customer in ("ann", "ben", "cat"):
            for currency, amount in (("AUD", "50.00"), ("diamonds", "500")):
                await d.call(
                    "balance.adjust",
                    {
                        "customer": customer,
                        "currency": currency,
                        "amount": amount,
                        "reason": "gift",
                        "idempotency_key": f"g-{customer}-{currency}",
                    },
                )
            for n in range(3):
                reply = await d.call(
                    "payment.purchase",
                    {
                        "customer": customer,
                        "product": "gem_pack",
                        "use_balance": True,
                        "currency": "AUD" if n % 2 else "diamonds",
                        "purchase_token": f"tok-{customer}-{n:04d}",
                    },
                )
                assert reply["result"]["PaymentResponse"] == "Success"
        before = (await d.call("balance.get", {"customer": "ben"}))["result"]
    source = await open_engine(sqlite_url)
    target = await open_engine(postgres.create_database("c_" + secrets.token_hex(6)))
    try:
        checks = await copy.copy_database(source, target)
    finally:
        await source.close()
        await target.close()
    by_table = {c.table: c for c in checks}
    for table, rows in (
        ("ledger_entries", 15),
        ("balances", 6),
        ("issued_receipts", 9),
        ("purchases", 9),
        ("receipt_sequences", 1),
    ):
        assert by_table[table].ok and by_table[table].target_rows == rows, by_table[table]
    assert before["balances"] == [
        {"currency": "AUD", "amount": "39.00", "amount_minor": 3900, "negative": False},
        {"currency": "diamonds", "amount": "300", "amount_minor": 300, "negative": False},
    ]

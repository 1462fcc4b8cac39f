"""Commerce settings shared by the commerce tests, and an independent ledger check."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

import jwt

from tests import pg

SESSION_SECRET = "session-secret-of-the-shop-0123456789abcdef"
PRODUCTS: dict[str, Any] = {
    "gem_pack": {"type": "one_time", "prices": {"AUD": "11.00", "diamonds": "100"}},
    "sword": {"type": "one_time", "prices": {"AUD": "0.05", "diamonds": "1"}},
    "buying_increase_balance": {"type": "top_up", "currency": "AUD", "min": "1", "max": "1000"},
}


def commerce(**extra: Any) -> dict[str, Any]:
    return {
        "sessions": {"secret": SESSION_SECRET, "algorithms": ["HS256"]},
        "currencies": {"diamonds": {"decimals": 0}},
        "companies": {
            "default": {
                "name": "Example Pty Ltd",
                "tax_id": "51 824 753 556",
                "receipt_prefix": "XB-",
                "country": "AU",
            }
        },
        "taxes": {"AU": {"rate": "0.10", "inclusive": True}},
        "products": PRODUCTS,
        **extra,
    }


def session(
    customer: str,
    *,
    ttl: int = 600,
    secret: str = SESSION_SECRET,
    alg: str = "HS256",
    **claims: Any,
) -> str:
    return jwt.encode(
        {"sub": customer, "exp": int(time.time()) + ttl, **claims}, secret, algorithm=alg
    )


def ledger_rows(tmp_path: Path, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Read the database directly, outside the daemon (the independent check)."""
    if pg.on_postgresql():
        import subprocess

        url = pg.database_url(tmp_path)
        text = sql
        for value in params:
            text = text.replace("?", "'" + str(value).replace("'", "''") + "'", 1)
        out = subprocess.run(
            ["psql", url, "-qAt", "-F", "\t", "-P", "null=\\N", "-c", text],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        return [tuple(_num(v) for v in line.split("\t")) for line in out.splitlines() if line]
    with sqlite3.connect(tmp_path / "xbtcpay.db") as conn:
        return [tuple(r) for r in conn.execute(sql, params).fetchall()]


def _num(v: str) -> Any:
    if v == "\\N":
        return None
    try:
        return int(v)
    except ValueError:
        return v


def check_ledger(tmp_path: Path) -> None:
    """Sum of entries = cached balance for every account; receipt numbers used once with no
    gaps per company; every entry's idempotency key used once."""
    mismatched = ledger_rows(
        tmp_path,
        (
            "SELECT b.customer, b.currency, b.amount, COALESCE(SUM(e.amount), 0) FROM balances b"
            " LEFT JOIN ledger_entries e ON e.customer = b.customer AND e.currency = b.currency"
            " GROUP BY b.customer, b.currency, b.amount HAVING b.amount <> COALESCE(SUM(e.amount), 0)"
        ),
    )
    assert mismatched == []
    for (company,) in ledger_rows(tmp_path, "SELECT DISTINCT company FROM issued_receipts"):
        seqs = [
            r[0]
            for r in ledger_rows(
                tmp_path,
                "SELECT seq FROM issued_receipts WHERE company = ? ORDER BY seq",
                (company,),
            )
        ]
        assert seqs == list(range(1, len(seqs) + 1)), f"gaps or repeats in {company}: {seqs}"
    accounts = ledger_rows(
        tmp_path,
        "SELECT customer, currency, COUNT(*), MAX(seq)"
        " FROM ledger_entries GROUP BY customer, currency",
    )
    for customer, currency, count, top in accounts:
        assert count == top, (customer, currency)

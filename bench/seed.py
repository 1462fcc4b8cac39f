"""Fill a real SQLite file with open crypto payments, fast (bulk SQL on the real schema).

The schema comes from the daemon's own migrations; each row is built from a ``Payment`` and
written with the storage layer's column encoding, with its ``created`` event, and the address
counter is moved past the seeded indexes so new payments get fresh addresses.
"""

from __future__ import annotations

import asyncio
import base64
import json
import random
import sqlite3
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import fields
from decimal import Decimal
from pathlib import Path

from xbtcpay.core.models import CRYPTO, Payment
from xbtcpay.core.state import State
from xbtcpay.storage.database import Database
from xbtcpay.storage.payments import to_column

COLUMNS = [f.name for f in fields(Payment)]
_EVENT_SQL = (
    "INSERT INTO payment_events (event_id, payment_id, event, from_state, to_state,"
    " at, source, details) VALUES (?, ?, 'created', NULL, 'new', ?, 'crypto', ?)"
)


async def _migrate(path: Path) -> None:
    db = Database(str(path))
    await db.open()
    try:
        await db.migrate()
    finally:
        await db.close()


def migrate(path: Path) -> None:
    """Create ``path`` with the daemon's own migrations (safe inside a running event loop)."""
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, _migrate(path)).result()


def _derive(args: tuple[str, int, int]) -> list[str]:
    from xbtcpay.chain.wallet import AddressDeriver

    xpub, start, stop = args
    deriver = AddressDeriver(xpub)
    return [deriver.address(i).lower() for i in range(start, stop)]


def derive_addresses(xpub: str, first: int, count: int, workers: int = 2) -> list[str]:
    """Deposit addresses ``first .. first+count-1`` of ``xpub`` (derived on ``workers`` CPUs)."""
    step = max(1, -(-count // workers))
    chunks = [(xpub, first + s, first + min(count, s + step)) for s in range(0, count, step)]
    if workers <= 1 or count < 2000:
        return [a for chunk in chunks for a in _derive(chunk)]
    with ProcessPoolExecutor(workers) as pool:
        return [a for part in pool.map(_derive, chunks) for a in part]


def _payment_id(rng: random.Random) -> str:
    return base64.urlsafe_b64encode(rng.randbytes(16)).rstrip(b"=").decode()


def seed(
    path: Path,
    count: int,
    *,
    xpub: str,
    first_index: int = 10,
    seed_value: int = 6,
    expire_in: int = 30 * 86400,
) -> list[str]:
    """Create ``path`` with ``count`` open (``new``) crypto payments; return their ids."""
    migrate(path)
    rng = random.Random(seed_value)
    now = int(time.time())
    addresses = derive_addresses(xpub, first_index, count)
    ids, rows, events = [], [], []
    for n, address in enumerate(addresses):
        pid = _payment_id(rng)
        amount = Decimal(rng.randint(1, 10_000_000)).scaleb(-6)
        p = Payment(
            id=pid,
            method=CRYPTO,
            asset="0xbtc",
            amount=amount,
            status=State.NEW,
            created_at=now - count + n,
            address=address,
            derivation_index=first_index + n,
            expires_at=now + expire_in,
            data=json.dumps({"order": n}),
            updated_at=now,
        )
        ids.append(pid)
        rows.append([to_column(c, getattr(p, c)) for c in COLUMNS])
        events.append(
            (
                f"evt_seed{n:012d}",
                pid,
                p.created_at,
                json.dumps({"amount": format(amount, "f"), "asset": "0xbtc"}),
            )
        )
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA synchronous=OFF")
        conn.execute("BEGIN")
        marks = ", ".join("?" for _ in COLUMNS)
        conn.executemany(f"INSERT INTO payments ({', '.join(COLUMNS)}) VALUES ({marks})", rows)
        conn.executemany(_EVENT_SQL, events)
        conn.execute(
            "INSERT OR REPLACE INTO counters (name, value) VALUES ('derivation_index', ?)",
            (first_index + count,),
        )
        conn.execute("COMMIT")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
    return ids


def keep_first(src: Path, dst: Path, count: int) -> None:
    """Copy ``src`` to ``dst`` keeping only its first ``count`` payments (by rowid)."""
    conn = sqlite3.connect(src)
    try:
        conn.execute("VACUUM INTO ?", (str(dst),))
    finally:
        conn.close()
    out = sqlite3.connect(dst, isolation_level=None)
    try:
        out.execute("BEGIN")
        out.execute(
            "DELETE FROM payment_events WHERE payment_id IN"
            " (SELECT id FROM payments WHERE rowid > ?)",
            (count,),
        )
        out.execute("DELETE FROM payments WHERE rowid > ?", (count,))
        out.execute("COMMIT")
    finally:
        out.close()


def open_payments(path: Path, limit: int | None = None) -> list[tuple[str, str]]:
    """(id, address) of the open payments in ``path``, in rowid order."""
    conn = sqlite3.connect(path)
    try:
        sql = "SELECT id, address FROM payments WHERE status = 'new' ORDER BY rowid"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return [(r[0], r[1]) for r in conn.execute(sql)]
    finally:
        conn.close()

"""The watchers' tables: cursor, recent headers, deposits, payments to re-evaluate.

Each chain has its own rows (``chain``: its key in the configuration; migration
``012_chains.sql``): a ``ChainStore`` reads and writes those of one chain only, so one
chain's rollback or cursor never touches another's. Every change of the scan position is one unit of work (one transaction): the cursor,
the headers of the range, the deposits found in it and the dirty marks of the payments they
touch commit together or not at all. See migration ``002_chain.sql``.

With several replicas each such unit begins with the leader's ``fence`` (xbtcpay/cluster.py):
it is refused, and rolls back whole, unless the writer still holds the current term, and
the cursor row records the term it was written under.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import replace
from typing import Any

from xbtcpay.core.deposits import AddressBook, Deposit, Header, Rollback
from xbtcpay.core.models import CRYPTO
from xbtcpay.core.persistence import Engine, UnitOfWork
from xbtcpay.core.state import State
from xbtcpay.storage.sql import SNAPSHOT_XMAX, SNAPSHOT_XMIN, marks, open_states

_DEPOSIT_COLUMNS = (
    " (key, payment_id, asset, address, units, kind, tx_hash, block_number, block_hash,"
    " position, created_at, chain) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    " ON CONFLICT (key) DO NOTHING"
)
_INSERT_DEPOSIT = "INSERT INTO deposits" + _DEPOSIT_COLUMNS
_INSERT_STRAY = "INSERT INTO stray_deposits" + _DEPOSIT_COLUMNS
_PUT_HEADER = (
    "INSERT INTO chain_blocks (chain, number, hash, parent_hash) VALUES (?, ?, ?, ?)"
    " ON CONFLICT (chain, number)"
    " DO UPDATE SET hash = excluded.hash, parent_hash = excluded.parent_hash"
)
DEFAULT_CHAIN = "main"  # the chain of a single ``chain:`` section
_CHUNK = 500  # SQLite host-parameter limit friendly
_ADDRESS_PAGE = 10_000  # issued addresses read per query when loading the book


def _row_to_deposit(row: Any) -> Deposit:
    return Deposit(
        key=row["key"],
        payment_id=row["payment_id"],
        asset=row["asset"],
        address=row["address"],
        units=int(row["units"]),
        kind=row["kind"],
        tx_hash=row["tx_hash"],
        block_number=row["block_number"],
        block_hash=row["block_hash"],
        position=row["position"],
        chain=row["chain"],
    )


def _still_payable() -> tuple[str, list[Any]]:
    """SQL condition (on table alias ``p``) and parameters: open, or expired but still
    within the late window (parameters ``late_window, now`` follow)."""
    states = open_states()
    condition = (
        f"(p.status IN ({marks(states)}) OR (p.status = ? AND"
        " (p.expires_at IS NULL OR p.expires_at + ? >= ?)))"
    )
    return condition, [*states, State.EXPIRED.value]


async def _mark_dirty(uow: UnitOfWork, chain: str, payment_ids: Iterable[str]) -> None:
    await uow.executemany(
        "INSERT INTO chain_dirty (payment_id, chain) VALUES (?, ?)"
        " ON CONFLICT (payment_id) DO NOTHING",
        [(pid, chain) for pid in sorted(set(payment_ids))],
    )


Fence = Callable[[UnitOfWork], Awaitable[int]]


async def no_fence(uow: UnitOfWork) -> int:
    """A single daemon without a lease (tools, tests of the store itself): term 0."""
    return 0


async def _set_cursor(uow: UnitOfWork, chain: str, block: int, term: int) -> None:
    await uow.execute(
        "INSERT INTO chain_cursor (chain, block, updated_at, term) VALUES (?, ?, ?, ?)"
        " ON CONFLICT (chain) DO UPDATE SET block = excluded.block,"
        " updated_at = excluded.updated_at, term = excluded.term",
        (chain, block, int(time.time()), term),
    )


async def _insert_deposits(uow: UnitOfWork, chain: str, deposits: Sequence[Deposit]) -> int:
    now, added = int(time.time()), 0
    for d in deposits:
        added += await uow.execute(
            _INSERT_STRAY if d.stray else _INSERT_DEPOSIT,
            (
                d.key,
                d.payment_id,
                d.asset,
                d.address,
                str(d.units),
                d.kind,
                d.tx_hash,
                d.block_number,
                d.block_hash,
                d.position,
                now,
                chain,
            ),
        )
    return added


class ChainStore:
    """Reads and atomic writes of one chain's watcher state in the daemon's database."""

    def __init__(self, db: Engine, fence: Fence = no_fence, chain: str = DEFAULT_CHAIN) -> None:
        self.db = db
        self.fence = fence
        self.chain = chain

    async def cursor(self) -> int | None:
        """The last block fully scanned, or None before the first start."""
        row = await self.db.fetchone(
            "SELECT block FROM chain_cursor WHERE chain = ?", (self.chain,)
        )
        return None if row is None else int(row["block"])

    async def cursors(self) -> dict[str, int]:
        """The last block scanned of every chain (followers take their heads from them)."""
        rows = await self.db.fetchall("SELECT chain, block FROM chain_cursor")
        return {r["chain"]: int(r["block"]) for r in rows}

    async def start_at(self, block: int, header: Header | None) -> None:
        """First start: the cursor sits just below the first block to scan (its header kept)."""

        async def work(uow: UnitOfWork) -> None:
            term = await self.fence(uow)
            if header is not None:
                await uow.execute(
                    _PUT_HEADER, (self.chain, header.number, header.hash, header.parent_hash)
                )
            await _set_cursor(uow, self.chain, block, term)

        await self.db.transact(work)

    async def window(self) -> list[Header]:
        """Stored headers of recent blocks, ascending."""
        rows = await self.db.fetchall(
            "SELECT number, hash, parent_hash FROM chain_blocks WHERE chain = ? ORDER BY number",
            (self.chain,),
        )
        return [Header(r["number"], r["hash"], r["parent_hash"]) for r in rows]

    async def header(self, number: int) -> Header | None:
        """The stored header of one block, if it is in the window."""
        row = await self.db.fetchone(
            "SELECT number, hash, parent_hash FROM chain_blocks WHERE chain = ? AND number = ?",
            (self.chain, number),
        )
        return None if row is None else Header(row["number"], row["hash"], row["parent_hash"])

    async def checkpoint(
        self, to_block: int, headers: Sequence[Header], deposits: Sequence[Deposit], keep_from: int
    ) -> int:
        """Commit a scanned range: headers, deposits, dirty marks and the cursor, atomically.

        Headers below ``keep_from`` are pruned. Returns how many deposits were new.
        """

        async def work(uow: UnitOfWork) -> int:
            term = await self.fence(uow)
            await uow.executemany(
                _PUT_HEADER,
                [
                    (self.chain, h.number, h.hash, h.parent_hash)
                    for h in headers
                    if h.number >= keep_from
                ],
            )
            await uow.execute(
                "DELETE FROM chain_blocks WHERE chain = ? AND number < ?", (self.chain, keep_from)
            )
            added = await _insert_deposits(uow, self.chain, deposits)
            await _mark_dirty(uow, self.chain, (d.payment_id for d in deposits if not d.stray))
            await _set_cursor(uow, self.chain, to_block, term)
            return added

        return await self.db.transact(work)

    async def add_deposits(self, deposits: Sequence[Deposit]) -> int:
        """Record reconciled deposits (and mark their payments dirty) in one transaction."""

        async def work(uow: UnitOfWork) -> int:
            await self.fence(uow)
            added = await _insert_deposits(uow, self.chain, deposits)
            await _mark_dirty(uow, self.chain, (d.payment_id for d in deposits if not d.stray))
            return added

        return await self.db.transact(work)

    async def rollback(self, ancestor: int) -> Rollback:
        """Forget everything above ``ancestor``: deposits, headers; rewind the cursor to it."""

        async def work(uow: UnitOfWork) -> Rollback:
            term = await self.fence(uow)
            scope = (self.chain, ancestor)
            rows = await uow.fetchall(
                "SELECT DISTINCT payment_id FROM deposits WHERE chain = ? AND block_number > ?"
                " ORDER BY payment_id",
                scope,
            )
            payments = tuple(r[0] for r in rows)
            removed = await uow.execute(
                "DELETE FROM deposits WHERE chain = ? AND block_number > ?", scope
            )
            await uow.execute(
                "DELETE FROM stray_deposits WHERE chain = ? AND block_number > ?", scope
            )
            await uow.execute("DELETE FROM chain_blocks WHERE chain = ? AND number > ?", scope)
            await _mark_dirty(uow, self.chain, payments)
            await _set_cursor(uow, self.chain, ancestor, term)
            return Rollback(ancestor, removed, payments)

        return await self.db.transact(work)

    async def load_addresses(self, book: AddressBook) -> int:
        """Add deposit addresses issued since the last call to ``book``; return how many.

        After it returns, every address whose payment committed before it was called is in
        ``book``. On SQLite indexes are taken under the writer's lock and commit in index
        order, so ``> last_index`` misses none. On PostgreSQL replicas hand out indexes from
        blocks (``derivation_indexes``) and commit out of index order, so a lower index can
        become visible after a higher one was loaded: there the book keeps a commit-order
        watermark instead (``_load_since``)."""
        if self.db.dialect != "postgresql":
            return await self._load_after(book)
        row = await self.db.fetchone(SNAPSHOT_XMIN)
        assert row is not None
        horizon = int(row[0])
        if book.horizon is None:  # the first load reads every address
            added = await self._load_after(book)
        else:
            added = await self._load_since(book, book.horizon)
        book.horizon = horizon
        return added

    async def _load_after(self, book: AddressBook) -> int:
        """Pages of addresses above ``book.last_index``, in index order."""
        added = 0
        while True:  # in pages: 300,000 rows at once would hold ~100 MB only to be dropped
            rows = await self.db.fetchall(
                "SELECT derivation_index, id, address, asset FROM payments"
                " WHERE derivation_index > ? AND method = ? AND address IS NOT NULL"
                " ORDER BY derivation_index LIMIT ?",
                (book.last_index, CRYPTO, _ADDRESS_PAGE),
            )
            for row in rows:
                book.add(int(row["derivation_index"]), row["address"], row["id"], row["asset"])
            added += len(rows)
            if len(rows) < _ADDRESS_PAGE:
                return added

    async def _load_since(self, book: AddressBook, since: int) -> int:
        """Every address inserted by a transaction ``since`` or later (PostgreSQL).

        ``since`` was the oldest transaction still running when the previous load began:
        every older one had ended by then, so its rows were read by that load or an earlier
        one, and every row committed since belongs to a transaction ``since`` or newer
        (one that had no id yet gets a newer one). Rows read twice are harmless. The upper
        bound (the statement's own snapshot) keeps rows from another cluster's numbering
        (a restored dump) out of every later load."""
        added, after = 0, (since, -1)
        while True:  # in pages, by (transaction, index): the index on both reads them in order
            rows = await self.db.fetchall(
                "SELECT created_xid, derivation_index, id, address, asset FROM payments"
                " WHERE (created_xid, derivation_index) > (?, ?) AND created_xid < "
                + SNAPSHOT_XMAX
                + " AND method = ? AND address IS NOT NULL"
                " ORDER BY created_xid, derivation_index LIMIT ?",
                (*after, CRYPTO, _ADDRESS_PAGE),
            )
            for row in rows:
                after = (int(row["created_xid"]), int(row["derivation_index"]))
                if row["address"].lower() not in book.targets:
                    book.add(after[1], row["address"], row["id"], row["asset"])
                    added += 1
            if len(rows) < _ADDRESS_PAGE:
                return added

    async def deposits_of(self, payment_id: str) -> list[Deposit]:
        """Every deposit of one payment on this chain, in chain order (strays left out)."""
        rows = await self.db.fetchall(
            "SELECT * FROM deposits WHERE payment_id = ? AND chain = ?"
            " ORDER BY block_number, position",
            (payment_id, self.chain),
        )
        return [_row_to_deposit(r) for r in rows]

    async def deposits_on_every_chain(self, payment_id: str) -> list[Deposit]:
        """Every deposit of one payment, whatever its chain (strays left out)."""
        rows = await self.db.fetchall(
            "SELECT * FROM deposits WHERE payment_id = ? ORDER BY chain, block_number, position",
            (payment_id,),
        )
        return [_row_to_deposit(r) for r in rows]

    async def recorded_between(self, start: int, end: int) -> list[tuple[Deposit, int]]:
        """Deposits recorded in ``[start, end)`` (UNIX seconds) with the time each was
        recorded, oldest first: the crypto movements of a period for the books."""
        rows = await self.db.fetchall(
            "SELECT * FROM deposits WHERE created_at >= ? AND created_at < ?"
            " ORDER BY created_at, block_number, position, id",
            (start, end),
        )
        return [(_row_to_deposit(r), int(r["created_at"])) for r in rows]

    async def strays_of(self, payment_id: str) -> list[Deposit]:
        """The stray deposits to one payment's address, on every chain, oldest first."""
        rows = await self.db.fetchall(
            "SELECT * FROM stray_deposits WHERE payment_id = ? ORDER BY id", (payment_id,)
        )
        return [replace(_row_to_deposit(r), stray=True) for r in rows]

    async def strays(self) -> list[Deposit]:
        """Every stray deposit, on every chain, oldest first (``funds``)."""
        rows = await self.db.fetchall("SELECT * FROM stray_deposits ORDER BY id")
        return [replace(_row_to_deposit(r), stray=True) for r in rows]

    async def dirty(self) -> list[str]:
        """Payments whose deposits changed since they were last evaluated."""
        rows = await self.db.fetchall(
            "SELECT payment_id FROM chain_dirty WHERE chain = ?", (self.chain,)
        )
        return [r[0] for r in rows]

    async def clean(self, payment_ids: Sequence[str]) -> None:
        """Payments evaluated after their last deposit change: no longer dirty."""
        if not payment_ids:
            return

        async def work(uow: UnitOfWork) -> None:
            await uow.executemany(
                "DELETE FROM chain_dirty WHERE payment_id = ? AND chain = ?",
                [(pid, self.chain) for pid in payment_ids],
            )

        await self.db.transact(work)

    async def stray_invoices(self) -> list[str]:
        """Open invoices priced in fiat with stray deposits on this chain that may change
        them: funds of an option while no option is chosen yet, or funds of the chosen
        option recorded stray before the address book knew the choice."""
        rows = await self.db.fetchall(
            "SELECT DISTINCT s.payment_id FROM stray_deposits s"
            " JOIN payments p ON p.id = s.payment_id"
            " WHERE s.chain = ? AND p.method = ? AND p.extra LIKE ?"
            " AND (p.status = ? OR (p.status = ? AND s.asset = p.asset))",
            (self.chain, CRYPTO, '%"invoice"%', State.NEW.value, State.SEEN.value),
        )
        return [r[0] for r in rows]

    async def funded(self, payment_ids: Sequence[str]) -> set[str]:
        """Which of ``payment_ids`` have any funds recorded, counted or stray, on any chain."""
        found: set[str] = set()
        for start in range(0, len(payment_ids), _CHUNK):
            chunk = list(payment_ids[start : start + _CHUNK])
            where = f"payment_id IN ({marks(chunk)})"
            rows = await self.db.fetchall(
                f"SELECT payment_id FROM deposits WHERE {where}"
                f" UNION SELECT payment_id FROM stray_deposits WHERE {where}",
                (*chunk, *chunk),
            )
            found.update(r[0] for r in rows)
        return found

    async def strays_here(self, payment_id: str) -> list[Deposit]:
        """The stray deposits to one payment's address on this chain, in chain order."""
        rows = await self.db.fetchall(
            "SELECT * FROM stray_deposits WHERE payment_id = ? AND chain = ?"
            " ORDER BY block_number, position",
            (payment_id, self.chain),
        )
        return [replace(_row_to_deposit(r), stray=True) for r in rows]

    async def adopt(self, uow: UnitOfWork, payment_id: str, asset: str | None) -> None:
        """File one payment's funds on this chain by the asset it is paid in, inside the
        caller's unit of work (fenced): ``asset``'s strays become deposits, deposits of any
        other asset (None: every deposit) become strays; the payment is marked dirty."""
        await self.fence(uow)
        columns = (
            "key, payment_id, asset, address, units, kind, tx_hash, block_number,"
            " block_hash, position, created_at, chain"
        )
        here = (self.chain, payment_id)
        other = "asset IS NOT NULL" if asset is None else "asset <> ?"
        other_args = () if asset is None else (asset,)
        await uow.execute(
            f"INSERT INTO stray_deposits ({columns}) SELECT {columns} FROM deposits"
            f" WHERE chain = ? AND payment_id = ? AND {other} ON CONFLICT (key) DO NOTHING",
            (*here, *other_args),
        )
        await uow.execute(
            f"DELETE FROM deposits WHERE chain = ? AND payment_id = ? AND {other}",
            (*here, *other_args),
        )
        if asset is not None:
            await uow.execute(
                f"INSERT INTO deposits ({columns}) SELECT {columns} FROM stray_deposits"
                " WHERE chain = ? AND payment_id = ? AND asset = ? ON CONFLICT (key) DO NOTHING",
                (*here, asset),
            )
            await uow.execute(
                "DELETE FROM stray_deposits WHERE chain = ? AND payment_id = ? AND asset = ?",
                (*here, asset),
            )
        await _mark_dirty(uow, self.chain, [payment_id])

    async def refile(self, payment_id: str, asset: str | None) -> None:
        """``adopt`` in a unit of work of its own."""

        async def work(uow: UnitOfWork) -> None:
            await self.adopt(uow, payment_id, asset)

        await self.db.transact(work)

    async def awaiting_confirmations(self, now: int, late_window: int) -> list[str]:
        """Payments with deposits that may still become paid as blocks are added."""
        payable, args = _still_payable()
        rows = await self.db.fetchall(
            "SELECT DISTINCT d.payment_id FROM deposits d JOIN payments p ON p.id = d.payment_id"
            f" WHERE d.chain = ? AND {payable}",
            (self.chain, *args, late_window, now),
        )
        return [r[0] for r in rows]

    async def watched(
        self,
        asset: str,
        now: int,
        late_window: int,
        after: str = "",
        limit: int | None = None,
    ) -> list[tuple[str, str]]:
        """(payment id, address) of the payments of ``asset`` that can still be paid, by id;
        ``after``/``limit`` read them a page at a time."""
        payable, args = _still_payable()
        page = "" if limit is None else f" ORDER BY p.id LIMIT {int(limit)}"
        rows = await self.db.fetchall(
            "SELECT p.id, p.address FROM payments p WHERE p.method = ? AND p.asset = ?"
            f" AND p.address IS NOT NULL AND p.id > ? AND {payable}{page}",
            (CRYPTO, asset, after, *args, late_window, now),
        )
        return [(r["id"], r["address"]) for r in rows]

    async def totals_up_to(self, payment_ids: Sequence[str], block: int) -> dict[str, int]:
        """Sum of deposit units per payment in blocks <= ``block`` (exact integers)."""
        totals: dict[str, int] = {pid: 0 for pid in payment_ids}
        for start in range(0, len(payment_ids), _CHUNK):
            chunk = list(payment_ids[start : start + _CHUNK])
            rows = await self.db.fetchall(
                f"SELECT payment_id, units FROM deposits WHERE chain = ? AND block_number <= ?"
                f" AND payment_id IN ({marks(chunk)})",
                (self.chain, block, *chunk),
            )
            for row in rows:
                totals[row["payment_id"]] += int(row["units"])
        return totals

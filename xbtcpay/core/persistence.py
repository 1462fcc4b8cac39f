"""What the core needs from a database: an engine that runs units of work, and repositories.

The core declares these protocols; ``xbtcpay.storage`` implements them (SQLite in
``storage/database.py``: one group-committing writer; PostgreSQL in ``storage/postgres.py``:
a connection pool) and owns every statement. Processor, API, postback worker, watcher and
plugins only see the protocols below, handed to them at construction; no engine's rows,
exceptions or constants leak through (a unique or foreign-key violation surfaces as
``xbtcpay.core.errors.ConstraintViolation``, an unavailable database as ``StorageError``).

Unit of work
    A unit of work is one database transaction. Callers write it as a coroutine function
    taking a ``UnitOfWork`` and hand it to ``Engine.transact``; everything it writes commits
    together, or nothing does (an exception raised by the function rolls all of it back and
    is re-raised to the caller of ``transact``). ``transact`` returns after the commit is
    durable, so an acknowledged unit of work survives ``kill -9``.

    Rules for a unit of work:

    - await only the ``UnitOfWork`` it was given (no HTTP, no sleeps, no other locks): the
      SQLite engine runs it synchronously on its writer thread, batched with others;
    - SQL uses ``?`` placeholders and the portable subset both engines speak
      (``INSERT ... ON CONFLICT DO NOTHING``, ``RETURNING``, no ``INSERT OR ...``); where
      the engines must differ, the unit of work and the engine spell it (``for_update``,
      ``json_rows``), so no caller outside storage branches on the engine;
    - a ``ConstraintViolation`` aborts the unit of work: catch it around ``transact``,
      not inside the unit;
    - it may run more than once only if the caller retries it; engines never replay it.

    Repository methods take the unit of work as their first argument, so a caller composes
    several writes into one commit. The processor's transition is such a unit: it
    compare-and-sets the payment (``PaymentRepository.compare_and_set``), appends its event
    (``PaymentRepository.append_event``), queues the postback (``PostbackOutbox.enqueue``),
    then runs the processor's ``transaction_hooks`` and an optional ``also`` function in the
    same unit.

Example: a module adding its own table and writing it with a payment transition::

    # xbtcpay/storage/migrations/010_receipts.sql (applied on both engines)
    CREATE TABLE receipts (
        id         INTEGER PRIMARY KEY AUTOINCREMENT,
        payment_id TEXT NOT NULL UNIQUE REFERENCES payments (id),
        amount     TEXT NOT NULL,
        created_at INTEGER NOT NULL
    );

    # xbtcpay/commerce/receipts.py
    async def add_receipt(uow: UnitOfWork, payment: Payment, at: int) -> None:
        await uow.execute(
            "INSERT INTO receipts (payment_id, amount, created_at) VALUES (?, ?, ?)",
            (payment.id, format(payment.amount_received, "f"), at))

    async def on_paid(uow: UnitOfWork, before: Payment | None, after: Payment,
                      event: str) -> None:
        if event == "paid":
            await add_receipt(uow, after, after.updated_at)

    processor.transaction_hooks.append(on_paid)        # every transition, same commit
    # or once, for one call:
    await processor.apply(payment_id, event, also=lambda uow, p: add_receipt(uow, p, now))

    # a unit of work of its own, locking the receipt row on PostgreSQL:
    async def work(uow: UnitOfWork) -> int:
        row = await uow.fetchone(
            "SELECT amount FROM receipts WHERE payment_id = ?" + uow.for_update, (payment_id,))
        return await uow.execute("UPDATE receipts SET amount = ? WHERE payment_id = ?",
                                 (row["amount"], payment_id))
    changed = await engine.transact(work)

Rows (``Row``) are read by column name (``row["amount"]``) or position (``row[0]``);
``dict(row)`` gives a plain mapping. Money columns are TEXT holding decimal strings.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from xbtcpay.core.deposits import AddressBook, Deposit, Header, Rollback
from xbtcpay.core.models import Payment, Postback

T = TypeVar("T")


class Row(Protocol):
    """A result row: by column name or position; ``dict(row)`` works."""

    def __getitem__(self, key: str | int, /) -> Any: ...
    def keys(self) -> Iterable[str]: ...
    def __iter__(self) -> Iterator[Any]: ...
    def __len__(self) -> int: ...


class UnitOfWork(Protocol):
    """One open transaction. Every statement runs inside it; nothing commits on its own."""

    dialect: str  # "sqlite" or "postgresql": read by storage modules only

    @property
    def for_update(self) -> str:
        """Suffix of a SELECT that locks the rows it reads until the commit (" FOR UPDATE"
        on PostgreSQL, so concurrent writers of a row queue up; empty on SQLite, whose one
        writer already serialises every unit of work)."""

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one statement; return the number of rows it changed."""

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        """Run one statement once per parameter row."""

    async def fetchone(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        """First row of a query (``RETURNING`` included), or None."""

    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        """Every row of a query."""


Work = Callable[[UnitOfWork], Awaitable[T]]


class Engine(Protocol):
    """A database: units of work, and reads outside of them (read committed)."""

    dialect: str  # read by storage modules only
    # several daemons (replicas) can share this database; False for one SQLite file, whose
    # one daemon takes the leader lease at once and has no other replica's changes to follow
    shared: bool

    async def transact(self, work: Work[T]) -> T:
        """Run ``work`` in one transaction; return its result once the commit is durable."""

    async def fetchone(self, sql: str, params: Iterable[Any] = ()) -> Row | None: ...
    async def fetchall(self, sql: str, params: Iterable[Any] = ()) -> list[Row]: ...

    async def point(self, sql: str, params: Iterable[Any] = ()) -> Row | None:
        """A primary-key read on the hot path (status.json); same result as ``fetchone``."""

    def json_rows(self, columns: Sequence[str], select: str) -> str:
        """A query answering one row whose first column is the JSON text of every row of
        ``select`` as an array of ``columns`` values (``[]`` when it has none): many rows
        in one point read. The JSON aggregate is spelled differently by each engine."""

    async def migrate(self) -> list[str]:
        """Apply pending migrations; return the names applied."""

    async def close(self) -> None: ...


@dataclass(frozen=True)
class EventRow:
    """One entry of a payment's append-only event log, as the processor writes it."""

    event_id: str
    event: str
    from_state: str | None
    to_state: str
    at: int
    source: str
    dedupe_key: str | None
    details: Mapping[str, Any]


@dataclass(frozen=True)
class PostbackRow:
    """A postback the processor queues in the outbox with the transition that caused it."""

    event_id: str
    event: str
    url: str
    body: str
    created_at: float


class DuplicateEvent(Exception):
    """The event's dedupe key was applied before."""


InsertHook = Callable[[UnitOfWork, Payment], Awaitable[None]]


class PaymentRepository(Protocol):
    """Payments and their event log: reads, creation, and the writes of a transition."""

    engine: Engine

    async def insert(
        self,
        payment: Payment,
        event: EventRow,
        derive_address: Callable[[int], str] | None = None,
        first_index: int = 0,
        hooks: Sequence[InsertHook] = (),
    ) -> Payment:
        """Insert with its creation event; allocate a never-used derivation index if asked;
        ``hooks`` run in the same unit of work with the payment as inserted."""

    async def compare_and_set(
        self, uow: UnitOfWork, current: Payment, changes: Mapping[str, Any]
    ) -> bool:
        """Apply ``changes`` only if the row still has ``current``'s (status, version);
        the version goes up by one. False when another writer got there first."""

    async def append_event(self, uow: UnitOfWork, payment_id: str, event: EventRow) -> None:
        """Append to the payment's event log; a seen dedupe key raises ``DuplicateEvent``."""

    async def get(self, payment_id: str) -> Payment | None: ...
    async def get_by_order_id(self, order_id: str) -> Payment | None: ...
    async def get_by_provider_ref(self, method: str, ref: str) -> Payment | None: ...
    async def search(
        self,
        *,
        status: str | None = None,
        method: str | None = None,
        asset: str | None = None,
        customer: str | None = None,
        created_after: int | None = None,
        created_before: int | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[Payment]: ...
    async def open_expired(self, now: int, limit: int = 500) -> list[Payment]: ...
    async def pending_for_method(self, method: str, limit: int) -> list[Payment]: ...
    async def count_by_status(self) -> dict[str, int]: ...
    async def events(self, payment_id: str) -> list[dict[str, Any]]: ...
    async def dedupe_seen(self, key: str) -> bool: ...
    async def claim(self, key: str, now: int) -> bool: ...


class PostbackOutbox(Protocol):
    """Where a transition queues its postback, in the transition's own unit of work."""

    async def enqueue(self, uow: UnitOfWork, payment_id: str, postback: PostbackRow) -> None:
        """Queue ``postback`` (due at once); it commits with the transition or not at all."""


class PostbackRepository(Protocol):
    """The outbox as the delivery worker sees it: claim what is due, record each attempt."""

    async def due(self, now: float, limit: int, exclude: set[int]) -> list[Postback]: ...
    async def next_due_at(self) -> float | None: ...
    async def record_attempt(
        self,
        postback_id: int,
        *,
        at: float,
        duration_ms: int,
        http_status: int | None,
        error: str | None,
        outcome: str,
        next_attempt_at: float | None,
    ) -> None: ...
    async def get(self, postback_id: int) -> Postback | None: ...
    async def search(
        self, *, status: str | None = None, payment_id: str | None = None, limit: int = 100
    ) -> list[Postback]: ...
    async def attempts(self, postback_id: int) -> list[dict[str, Any]]: ...
    async def redeliver(self, postback_id: int, now: float) -> bool: ...
    async def stats(self) -> dict[str, int]: ...


class StrayDeposits(Protocol):
    """Money of another asset, or on another chain, sent to a payment's address."""

    async def strays_of(self, payment_id: str) -> list[Deposit]: ...


class ChainRepository(Protocol):
    """The chain watcher's state: scan cursor, recent headers, deposits, dirty payments.

    Implemented by ``xbtcpay.storage.chain_store.ChainStore`` on either engine; each write
    is one unit of work.
    """

    async def cursor(self) -> int | None: ...
    async def start_at(self, block: int, header: Header | None) -> None: ...
    async def window(self) -> list[Header]: ...
    async def header(self, number: int) -> Header | None: ...
    async def checkpoint(
        self, to_block: int, headers: Sequence[Header], deposits: Sequence[Deposit], keep_from: int
    ) -> int: ...
    async def add_deposits(self, deposits: Sequence[Deposit]) -> int: ...
    async def rollback(self, ancestor: int) -> Rollback: ...
    async def load_addresses(self, book: AddressBook) -> int: ...
    async def deposits_of(self, payment_id: str) -> list[Deposit]: ...
    async def strays_of(self, payment_id: str) -> list[Deposit]: ...
    async def dirty(self) -> list[str]: ...
    async def clean(self, payment_ids: Sequence[str]) -> None: ...
    async def awaiting_confirmations(self, now: int, late_window: int) -> list[str]: ...
    async def watched(self, asset: str, now: int, late_window: int) -> list[tuple[str, str]]: ...
    async def totals_up_to(self, payment_ids: Sequence[str], block: int) -> dict[str, int]: ...

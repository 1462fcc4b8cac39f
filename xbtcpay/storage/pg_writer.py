"""Group commit on PostgreSQL: units of work queued while a commit is in flight share it.

One pooled connection writes. It drains whatever units are queued (up to ``MAX_BATCH``),
runs them in one transaction and commits once; every caller is answered after that commit.
A failing unit rolls back alone and gets its own exception: the batch first runs without
savepoints (two round trips fewer per unit), and if any unit or statement fails, it is
rolled back whole and run again with each unit in a savepoint of its own.
Rows locked by a unit (the derivation counter, a payment's row) are therefore held for one
commit per batch, not one per unit, and fsyncs per second stay bounded, as on SQLite. A
lost connection fails the whole batch with ``StorageError`` (nothing of it committed); the
next batch takes a fresh connection from the pool.

Replicas write through writers of their own, so two batches can lock the same rows in
opposite orders (one customer's purchases on two replicas: the balance row and the
company's receipt counter). PostgreSQL then fails one unit with ``deadlock_detected``; its
savepoint (or its own transaction) rolls back, which releases what it locked, and the unit
is run again, up to ``RETRIES`` times, instead of answering the caller "Storage
unavailable". A unit is a database function (``Work``): running it again after its rollback
is safe.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any, TypeVar

import asyncpg
import structlog

from xbtcpay.core.errors import StorageError
from xbtcpay.core.persistence import Work

T = TypeVar("T")
log = structlog.get_logger("xbtcpay.storage")
MAX_BATCH = 256
RETRIES = 5
_RETRYABLE = (asyncpg.DeadlockDetectedError, asyncpg.SerializationError)
Translate = Callable[[BaseException], BaseException]


class GroupCommitWriter:
    """The writer task of one PostgreSQL engine."""

    def __init__(
        self,
        pool: Any,
        unit: Callable[[Any], Any],
        translate: Translate,
        unavailable: tuple[type[BaseException], ...],
    ) -> None:
        self._pool = pool
        self._unit = unit
        self._translate = translate
        self._unavailable = unavailable
        self._queue: asyncio.Queue[tuple[Work[Any], asyncio.Future[Any]]] = asyncio.Queue()
        self._conn: Any = None
        self._task = asyncio.create_task(self._loop(), name="pg-writer")
        self.commits = 0
        self.together = 0  # batches committed without a savepoint per unit

    async def submit(self, work: Work[T]) -> T:
        if self._task.done():
            raise StorageError("database is closed")
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        await self._queue.put((work, future))
        return await future

    async def close(self) -> None:
        await self._queue.join()
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        await self._drop_connection()

    async def _loop(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while not self._queue.empty() and len(batch) < MAX_BATCH:
                batch.append(self._queue.get_nowait())
            try:
                await self._run(batch)
            finally:
                for _ in batch:
                    self._queue.task_done()

    async def _run(self, batch: list[tuple[Work[Any], asyncio.Future[Any]]]) -> None:
        outcomes: list[tuple[bool, Any]] = []
        try:
            conn = await self._connection()
            if len(batch) == 1:  # alone: the transaction is its savepoint (two round trips less)
                outcomes.append(await self._alone(conn, batch[0][0]))
            else:
                together = await self._together(conn, batch)
                if together is not None:
                    outcomes = together
                else:  # a unit failed: all rolled back; now each in a savepoint of its own
                    async with conn.transaction():
                        for work, _ in batch:
                            outcomes.append(await self._one(conn, work))
        except Exception as exc:  # noqa: BLE001 - whatever broke, the batch fails as one
            log.error("storage.commit_failed", error=str(exc), batch=len(batch))
            await self._drop_connection()  # the next batch starts on a fresh connection
            failure = self._translate(exc)
            for _, future in batch:
                if not future.done():
                    future.set_exception(failure)
            return
        self.commits += 1
        for (ok, value), (_, future) in zip(outcomes, batch, strict=True):
            if future.done():
                continue
            if ok:
                future.set_result(value)
            else:
                future.set_exception(value)

    async def _together(
        self, conn: Any, batch: list[tuple[Work[Any], asyncio.Future[Any]]]
    ) -> list[tuple[bool, Any]] | None:
        """Every unit of the batch in one transaction without savepoints: two round trips
        fewer per unit. None when a unit or any of its statements failed (even one the
        unit caught): the whole transaction is rolled back, and the caller runs the batch
        again with a savepoint per unit, so each unit still fails or commits alone."""
        units, results = [], []
        transaction = conn.transaction()
        await transaction.start()
        try:
            for work, _ in batch:
                unit = self._unit(conn)
                units.append(unit)
                results.append(await work(unit))
        except self._unavailable:
            raise
        except Exception:  # noqa: BLE001 - whichever unit failed, the batch runs again
            await transaction.rollback()
            return None
        if any(getattr(unit, "failed", False) for unit in units):
            await transaction.rollback()
            return None
        await transaction.commit()
        self.together += 1
        return [(True, value) for value in results]

    async def _one(self, conn: Any, work: Work[Any]) -> tuple[bool, Any]:
        """One unit in its own savepoint; the connection failing fails the batch."""
        return await self._attempts(conn, work)

    async def _alone(self, conn: Any, work: Work[Any]) -> tuple[bool, Any]:
        """A batch of one unit: its own transaction; its failure rolls back only itself."""
        return await self._attempts(conn, work)

    async def _attempts(self, conn: Any, work: Work[Any]) -> tuple[bool, Any]:
        """Run ``work`` in a (sub)transaction of its own; a deadlock victim runs again."""
        for attempt in range(1, RETRIES + 1):
            try:
                async with conn.transaction():
                    unit = self._unit(conn)
                    value = await work(unit)
                    if getattr(unit, "failed", False):
                        # PostgreSQL would turn the commit into a rollback without a word
                        log.error("storage.unit_ignored_a_failed_statement")
                        raise StorageError("database error")
                    return True, value
            except self._unavailable:
                raise
            except _RETRYABLE as exc:
                if attempt == RETRIES:
                    return False, self._translate(exc)
                log.info("storage.unit_retried", reason=type(exc).__name__, attempt=attempt)
            except asyncpg.PostgresError as exc:  # rolled back: this unit only
                return False, self._translate(exc)
            except Exception as exc:  # noqa: BLE001 - the unit's own error (ConstraintViolation...)
                return False, exc
        raise AssertionError("unreachable")  # pragma: no cover

    async def _connection(self) -> Any:
        if self._conn is None or self._conn.is_closed():
            await self._drop_connection()
            self._conn = await self._pool.acquire()
        return self._conn

    async def _drop_connection(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                await self._pool.release(conn)
            except Exception as exc:  # noqa: BLE001 - a broken connection is discarded
                log.debug("storage.writer_connection_dropped", error=str(exc))

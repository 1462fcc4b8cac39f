"""Several replicas on one PostgreSQL database: one leader with a fencing term, shared
postback claims with per-host limits, fresh status.json everywhere, distinct addresses."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from tests.commerce.setup import commerce
from tests.harness import (
    DaemonHandle,
    PostbackReceiver,
    free_port,
    running_daemon,
    wait_until,
)
from xbtcpay.chain.deposits import balance_deposit
from xbtcpay.chain.reorg import Header
from xbtcpay.cluster.leadership import Fenced
from xbtcpay.core.errors import StorageError
from xbtcpay.core.models import PaymentEvent
from xbtcpay.core.persistence import PostbackRow, UnitOfWork
from xbtcpay.core.state import Event
from xbtcpay.core.tasks import supervise
from xbtcpay.storage.chain_store import ChainStore
from xbtcpay.storage.engines import open_engine
from xbtcpay.storage.pg_server import PgServer
from xbtcpay.storage.postbacks import PostbackStore
from xbtcpay.web.status_feed import FEED_WINDOW


@asynccontextmanager
async def replicas(
    tmp_path: Path, postgres: PgServer, count: int, extra: dict[str, Any] | None = None
) -> AsyncIterator[list[DaemonHandle]]:
    url = postgres.create_database("replicas_" + secrets.token_hex(4))
    async with AsyncExitStack() as stack:
        handles = []
        for n in range(count):
            directory = tmp_path / f"r{n}"
            directory.mkdir()
            handles.append(
                await stack.enter_async_context(
                    running_daemon(
                        directory,
                        {
                            "database": url,
                            "cluster": {"replica_id": f"r{n}", "lease_ttl": 1.5},
                            **(extra or {}),
                        },
                    )
                )
            )
        yield handles


def leaders(handles: list[DaemonHandle]) -> list[str]:
    return [h.runtime.leadership.replica_id for h in handles if h.runtime.leadership.is_leader]


async def test_one_leader_shown_in_healthz_and_metrics(tmp_path: Path, postgres: PgServer) -> None:
    async with replicas(tmp_path, postgres, 3) as rs:
        await wait_until(lambda: all(r.runtime.leadership.leader_id for r in rs))
        assert leaders(rs) == ["r0"]
        for r in rs:
            async with r.session.get(r.rpc_url + "/healthz") as resp:
                doc = await resp.json()
            assert resp.status == 200, doc
            assert doc["checks"]["cluster"] == {
                "replica": r.runtime.leadership.replica_id,
                "leader": "r0",
                "term": 1,
                "is_leader": r is rs[0],
            }
            async with r.session.get(r.rpc_url + "/metrics") as resp:
                text = await resp.text()
            mine = r.runtime.leadership.replica_id
            assert (
                f'xbtcpay_cluster_leader{{replica="{mine}"}} {1.0 if r is rs[0] else 0.0}' in text
            )
            assert "xbtcpay_cluster_term 1.0" in text


async def test_a_paused_leader_is_fenced_after_a_take_over(
    tmp_path: Path, postgres: PgServer
) -> None:
    async with replicas(tmp_path, postgres, 2) as (a, b):
        old = ChainStore(a.runtime.db, a.runtime.leadership.fence)
        await old.start_at(10, Header(10, "0x" + "0a" * 32, "0x" + "09" * 32))
        # a stops renewing (a long pause): its lease runs out and b takes over
        a.runtime.leadership.renew = False
        a.runtime.leadership.ttl = 3600.0

        async def expire(uow: UnitOfWork) -> None:
            await uow.execute("UPDATE cluster_lease SET expires_at = 0")

        await a.runtime.db.transact(expire)
        assert await b.runtime.leadership.step()
        assert b.runtime.leadership.term == 2 and a.runtime.leadership.term == 1
        with pytest.raises(Fenced):
            await old.checkpoint(11, [Header(11, "0x" + "0b" * 32, "0x" + "0a" * 32)], [], 0)
        assert await old.cursor() == 10  # nothing of the fenced unit was written
        assert await old.header(11) is None
        assert not a.runtime.leadership.is_leader
        new = ChainStore(b.runtime.db, b.runtime.leadership.fence)
        await new.checkpoint(11, [Header(11, "0x" + "0b" * 32, "0x" + "0a" * 32)], [], 0)
        terms = await b.runtime.db.fetchall(
            "SELECT term, holder, writes FROM chain_terms ORDER BY term"
        )
        assert [(t["term"], t["holder"], t["writes"]) for t in terms] == [
            (1, "r0", 1),
            (2, "r1", 1),
        ]
        cursor = await b.runtime.db.fetchone("SELECT block, term FROM chain_cursor")
        assert (cursor["block"], cursor["term"]) == (11, 2)


async def test_a_paused_leader_cannot_add_reconciled_deposits_after_a_take_over(
    tmp_path: Path, postgres: PgServer
) -> None:
    """Reconciliation's deposits are a fenced write like the checkpoint: a paused leader's
    surplus, recorded after another replica took over, is refused and leaves nothing."""
    async with replicas(tmp_path, postgres, 2) as (a, b):
        made = await a.start_payment("2")
        old = ChainStore(a.runtime.db, a.runtime.leadership.fence)
        await old.start_at(10, Header(10, "0x" + "0a" * 32, "0x" + "09" * 32))
        a.runtime.leadership.renew = False
        a.runtime.leadership.ttl = 3600.0

        async def expire(uow: UnitOfWork) -> None:
            await uow.execute("UPDATE cluster_lease SET expires_at = 0")

        await a.runtime.db.transact(expire)
        assert await b.runtime.leadership.step()
        surplus = balance_deposit(made["id"], "0xbtc", made["address"], 7, 10, "0x" + "0a" * 32)
        with pytest.raises(Fenced):
            await old.add_deposits([surplus])
        assert await old.deposits_of(made["id"]) == []
        assert made["id"] not in await old.dirty()
        new = ChainStore(b.runtime.db, b.runtime.leadership.fence)
        assert await new.add_deposits([surplus]) == 1
        assert [d.units for d in await new.deposits_of(made["id"])] == [7]


async def test_a_stopped_leader_hands_over_at_once(tmp_path: Path, postgres: PgServer) -> None:
    async with replicas(tmp_path, postgres, 1) as (a,):
        url = a.config.database
        assert a.runtime.leadership.is_leader
    started = time.monotonic()
    (tmp_path / "r9").mkdir()
    async with running_daemon(
        tmp_path / "r9", {"database": url, "cluster": {"replica_id": "r9"}}
    ) as b:
        assert b.runtime.leadership.is_leader and b.runtime.leadership.term == 2
    assert time.monotonic() - started < 5


async def test_status_json_on_another_replica_shows_a_change_within_a_second(
    tmp_path: Path, postgres: PgServer
) -> None:
    async with replicas(tmp_path, postgres, 2) as (a, b):
        pid = (await a.start_payment("2"))["id"]
        for _ in range(3):  # b caches the open payment's body
            assert (await b.status(pid))[1]["status"] == "new"
        assert b.runtime.status_cache.get(pid, b.runtime.head.number) is not None
        await a.processor.apply(pid, PaymentEvent(Event.PAID, amount_received=Decimal(2)))
        changed_at = time.monotonic()

        async def paid_on_b() -> bool:
            status: str = (await b.status(pid))[1]["status"]
            return status == "paid"

        await wait_until(paid_on_b, timeout=1.0)
        assert time.monotonic() - changed_at <= 1.0


async def test_a_follower_whose_feed_paused_longer_than_the_window_catches_up(
    tmp_path: Path, postgres: PgServer
) -> None:
    """The feed resumes from where it stopped: a change older than ``FEED_WINDOW`` when b's
    feed runs again still drops b's cached body."""
    async with replicas(tmp_path, postgres, 2) as (a, b):
        pid = (await a.start_payment("2"))["id"]
        for _ in range(3):  # b caches the open payment's body
            assert (await b.status(pid))[1]["status"] == "new"
        assert b.runtime.status_cache.get(pid, b.runtime.head.number) is not None
        paused = b.daemon.background["status-feed"]
        paused.cancel()
        await asyncio.gather(paused, return_exceptions=True)
        await a.processor.apply(pid, PaymentEvent(Event.PAID, amount_received=Decimal(2)))
        await asyncio.sleep(FEED_WINDOW + 2)  # the pause itself (the feed reads wall time)
        feed = b.daemon.status_feed
        assert feed is not None
        resumed = asyncio.create_task(supervise("status-feed", feed.run))
        try:

            async def paid_on_b() -> bool:
                status: str = (await b.status(pid))[1]["status"]
                return status == "paid"

            await wait_until(paid_on_b, timeout=2.0)
        finally:
            resumed.cancel()
            await asyncio.gather(resumed, return_exceptions=True)


async def test_a_follower_stops_serving_cached_bodies_while_its_feed_cannot_read(
    tmp_path: Path,
) -> None:
    """During a database outage b cannot learn of changes, so it answers no status.json
    from memory; after the outage a change made on a reaches b's status.json."""
    with PgServer(free_port()) as server:
        async with replicas(tmp_path, server, 2) as (a, b):
            pid = (await a.start_payment("2"))["id"]
            for _ in range(3):
                assert (await b.status(pid))[1]["status"] == "new"
            assert b.runtime.status_cache.get(pid, b.runtime.head.number) is not None
            server.halt("fast")
            try:

                async def not_from_memory() -> bool:
                    async with b.session.get(f"{b.public_url}/{pid}/status.json") as resp:
                        return resp.status != 200

                await wait_until(not_from_memory, timeout=10)
                assert len(b.runtime.status_cache) == 0
            finally:
                server.resume()

            async def paid_on_a() -> bool:
                try:
                    event = PaymentEvent(Event.PAID, amount_received=Decimal(2))
                    return bool((await a.processor.apply(pid, event)).changed)
                except StorageError:
                    return False  # the pool is still reconnecting

            await wait_until(paid_on_a, timeout=20)

            async def paid_on_b() -> bool:
                async with b.session.get(f"{b.public_url}/{pid}/status.json") as resp:
                    return resp.status == 200 and (await resp.json())["status"] == "paid"

            await wait_until(paid_on_b, timeout=20)


async def test_no_derivation_index_is_handed_out_twice(tmp_path: Path, postgres: PgServer) -> None:
    async with replicas(tmp_path, postgres, 3) as rs:
        made = await asyncio.gather(*(rs[n % 3].start_payment("1") for n in range(90)))
        rows = await rs[0].runtime.db.fetchall("SELECT derivation_index, address FROM payments")
        assert len(rows) == 90
        assert len({r["derivation_index"] for r in rows}) == 90
        assert len({r["address"] for r in rows}) == 90 == len({m["address"] for m in made})


async def test_no_derivation_index_is_handed_out_twice_once_the_counter_exists(
    tmp_path: Path, postgres: PgServer
) -> None:
    """Rounds of concurrent payments over three replicas after the counter row exists (the
    first payment created it), so every round bumps the existing counter at once."""
    async with replicas(tmp_path, postgres, 3) as rs:
        made = [await rs[0].start_payment("1")]
        for _ in range(6):
            made += await asyncio.gather(*(rs[n % 3].start_payment("1") for n in range(15)))
        rows = await rs[0].runtime.db.fetchall("SELECT derivation_index, address FROM payments")
        assert len(rows) == len(made) == 91
        assert len({r["derivation_index"] for r in rows}) == 91
        assert len({m["address"] for m in made}) == 91


async def test_concurrent_balance_purchases_on_three_replicas_get_gapless_receipt_numbers(
    tmp_path: Path, postgres: PgServer
) -> None:
    """Each replica draws receipt numbers from the company's one counter: 120 purchases of
    40 customers at once over three replicas all succeed and use 1..120 once each. A
    customer buys on one replica only (a customer buying on two replicas at once can
    deadlock two batches: that is another matter than the counter)."""
    async with replicas(tmp_path, postgres, 3, commerce()) as rs:
        customers = [f"buyer-{n:02d}" for n in range(40)]
        for n, customer in enumerate(customers):
            gift = await rs[n % 3].call(
                "balance.adjust",
                {
                    "customer": customer,
                    "currency": "AUD",
                    "amount": "33.00",
                    "reason": "gift",
                    "idempotency_key": f"gift-{customer}",
                },
            )
            assert "result" in gift, gift

        async def buy(i: int) -> dict[str, Any]:
            reply = await rs[i % 40 % 3].call(
                "payment.purchase",
                {
                    "customer": customers[i % 40],
                    "product": "gem_pack",
                    "purchase_token": f"tok-replica-{i:04d}",
                    "use_balance": True,
                    "currency": "AUD",
                },
            )
            assert "result" in reply, reply
            return dict(reply["result"])

        answers = await asyncio.gather(*(buy(i) for i in range(120)))
        assert [a["PaymentResponse"] for a in answers] == ["Success"] * 120, answers
        numbers = sorted(a["Receipt"]["ReceiptNumber"] for a in answers)
        assert numbers == [f"XB-{n:06d}" for n in range(1, 121)]
        balances = await rs[0].runtime.db.fetchall("SELECT DISTINCT amount FROM balances")
        assert [int(r[0]) for r in balances] == [0]


async def test_one_idempotency_key_credited_on_three_replicas_at_once_credits_once(
    tmp_path: Path, postgres: PgServer
) -> None:
    """Each replica writes through its own connection: the same adjustment sent to all of
    them at once is one ledger entry, and every caller gets it back (one as new)."""
    async with replicas(tmp_path, postgres, 3, commerce()) as rs:
        gift = {
            "customer": "gina",
            "currency": "AUD",
            "amount": "5.00",
            "reason": "gift",
            "idempotency_key": "gift-gina-once",
        }
        for _ in range(3):
            replies = await asyncio.gather(
                *(rs[n % 3].call("balance.adjust", gift) for n in range(30))
            )
            assert all("result" in r for r in replies), replies
            assert len({r["result"]["entry"]["id"] for r in replies}) == 1
        assert [r["result"]["replay"] for r in replies].count(False) <= 1
        rows = await rs[0].runtime.db.fetchall("SELECT amount FROM ledger_entries")
        assert [int(r[0]) for r in rows] == [500]
        balances = await rs[0].runtime.db.fetchall("SELECT amount FROM balances")
        assert [int(r[0]) for r in balances] == [500]


async def test_each_postback_is_claimed_by_one_replica_within_the_host_limit(
    tmp_path: Path, postgres: PgServer
) -> None:
    in_flight, peak = 0, 0

    class Slow(PostbackReceiver):
        async def _handle(self, request: Any) -> Any:
            nonlocal in_flight, peak
            in_flight += 1
            peak = max(peak, in_flight)
            try:
                await asyncio.sleep(0.1)
                return await super()._handle(request)
            finally:
                in_flight -= 1

    limits = {"postback": {"concurrency": 8}}  # 8 // 4 = 2 per host, over all replicas
    async with Slow() as shop, replicas(tmp_path, postgres, 3, limits) as rs:
        pids = [
            (await rs[n % 3].start_payment("1", postback_url=shop.url))["id"] for n in range(24)
        ]
        for n, pid in enumerate(pids):
            await rs[(n + 1) % 3].processor.apply(
                pid, PaymentEvent(Event.PAID, amount_received=Decimal(1))
            )
        got = await shop.wait_for(24, timeout=30)
        event_ids = [g["json"]["event_id"] for g in got]
        assert len(event_ids) == len(set(event_ids)) == 24  # nothing delivered twice
        assert sorted(g["json"]["id"] for g in got) == sorted(pids)
        assert peak <= 2

        async def all_recorded_once() -> bool:
            row = await rs[0].runtime.db.fetchone(
                "SELECT COUNT(*) FROM postbacks WHERE status = 'delivered' AND attempts = 1"
            )
            return int(row[0]) == 24

        await wait_until(all_recorded_once, timeout=10)


async def test_a_claim_skips_postbacks_locked_elsewhere_and_none_is_claimed_twice(
    tmp_path: Path, postgres: PgServer
) -> None:
    """Two replicas claim while a third transaction holds three of six due postbacks: the
    free three are claimed by exactly one of them, the held three by neither (skipped, not
    waited for), and the held ones are claimable once released."""
    async with replicas(tmp_path, postgres, 1) as (r,):
        url = r.config.database
        pids = [(await r.start_payment("1"))["id"] for _ in range(6)]
    a_db, b_db = await open_engine(url), await open_engine(url)
    try:
        a = PostbackStore(a_db, owner="a", host_limit=100)
        b = PostbackStore(b_db, owner="b", host_limit=100)

        async def queue(uow: UnitOfWork) -> None:
            for n, pid in enumerate(pids):
                row = PostbackRow(f"ev-{n}", "paid", "https://shop.example/pb", "{}", 1.0)
                await a.enqueue(uow, pid, row)

        await a_db.transact(queue)
        ids = sorted(int(row["id"]) for row in await a_db.fetchall("SELECT id FROM postbacks"))
        held, free = ids[:3], ids[3:]
        blocker, watcher = await asyncpg.connect(url), await asyncpg.connect(url)
        try:
            locked = blocker.transaction()
            await locked.start()
            await blocker.execute(
                "SELECT id FROM postbacks WHERE id = ANY($1::bigint[]) FOR UPDATE", held
            )
            now = time.time()
            claims = [asyncio.ensure_future(s.due(now, 100, set())) for s in (a, b)]

            async def settled() -> bool:
                """Both claims returned, or both are stuck behind a lock."""
                if all(c.done() for c in claims):
                    return True
                waiting = await watcher.fetchval(
                    "SELECT count(*) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND wait_event_type = 'Lock'"
                )
                return int(waiting) >= 2

            await wait_until(settled)
            await locked.rollback()
            got_a, got_b = ([pb.id for pb in c] for c in await asyncio.gather(*claims))
        finally:
            await blocker.close()
            await watcher.close()
        assert not set(got_a) & set(got_b), (got_a, got_b)
        assert sorted(got_a + got_b) == free
        later = await b.due(time.time(), 100, set())
        assert sorted(pb.id for pb in later) == held
    finally:
        await a_db.close()
        await b_db.close()


async def test_the_change_feed_of_another_replica_carries_a_change_within_a_second(
    tmp_path: Path, postgres: PgServer
) -> None:
    """Checkout pages live on any replica: b's feed (its SSE streams) hears a's change."""
    async with replicas(tmp_path, postgres, 2) as (a, b):
        pid = (await a.start_payment("2"))["id"]
        heard: list[str] = []
        b.runtime.feed.on_payment(lambda p, e: heard.append(p.status) if p.id == pid else None)
        await a.processor.apply(pid, PaymentEvent(Event.PAID, amount_received=Decimal(2)))
        changed_at = time.monotonic()

        async def paid_heard_on_b() -> bool:
            return "paid" in heard

        await wait_until(paid_heard_on_b, timeout=1.0)
        assert time.monotonic() - changed_at <= 1.0

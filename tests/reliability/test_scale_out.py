"""Scenario: three replicas on one PostgreSQL, the leader kill -9'd again and again.

Three ``python -m xbtcpay run`` processes share one database and watch the session anvil.
A shop creates 300 payments round-robin over the replicas (a request to a dead replica is
retried on the next one with the same ``order_id``) and pays each on chain. Meanwhile a
killer sends SIGKILL to whichever replica holds the leader lease, at random (seeded)
moments, at least 3 times, restarting it each time, and restarts one non-leader once.
Checked at the end, from the database, the node and the shop's receiver (not from the
daemons' own books): no acknowledged payment lost, each paid exactly once, no deposit
counted twice, every postback delivered (duplicates counted), no derivation index used
twice, and the fencing log shows one term at a time: every term's checkpoint writes end
before the next term's begin.

The shop runs four lanes at once, so payments created on different replicas commit out of
derivation-index order (each replica hands out indexes from blocks of its own) and the
leader must still find every address it is paid at. A replica restarted after ``kill -9``
must never hand out an index of a block its previous process held: every payment it
acknowledges has an index above every payment acknowledged before the kill.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.chain.watching import chain_overrides
from tests.fixtures.chain import DevChain
from tests.harness import DaemonProcess, PostbackReceiver, base_config, write_config
from tests.pg import query
from tests.reliability import invariants
from tests.reliability.scenario import report, seed, stable_port
from xbtcpay.storage.pg_server import PgServer

REPLICAS = 3
PAYMENTS = 300
LANES = 4
LEADER_KILLS = 3
CONFIRMATIONS = 3
LEASE_TTL = 2.0
POSTBACK = {"base_delay": 0.1, "max_delay": 0.5, "timeout": 2}


async def _healthz(session: aiohttp.ClientSession, d: DaemonProcess) -> dict[str, Any] | None:
    try:
        async with session.get(
            d.rpc_url + "/healthz", timeout=aiohttp.ClientTimeout(total=2)
        ) as resp:
            return dict((await resp.json())["checks"]["cluster"])
    except (aiohttp.ClientError, TimeoutError, KeyError, ValueError):
        return None


async def _leader(
    session: aiohttp.ClientSession, replicas: list[DaemonProcess], timeout: float = 30
) -> int:
    """Index of the replica that reports itself leader (waits for a fail-over)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for n, d in enumerate(replicas):
            doc = await _healthz(session, d)
            if doc is not None and doc["is_leader"]:
                return n
        await asyncio.sleep(0.1)
    raise TimeoutError("no leader")


async def _start_payment(
    session: aiohttp.ClientSession,
    replicas: list[DaemonProcess],
    first: int,
    params: dict[str, Any],
) -> tuple[dict[str, Any], int, int]:
    body = {"jsonrpc": "2.0", "id": 1, "method": "start_payment", "params": params}
    failed, n = 0, first
    while True:
        try:
            async with session.post(
                replicas[n % len(replicas)].rpc_url + "/",
                json=body,
                timeout=aiohttp.ClientTimeout(total=10),
            ) as resp:
                answer = await resp.json()
            if "result" in answer:
                return answer["result"], failed, n % len(replicas)
            raise AssertionError(f"start_payment refused: {answer}")
        except (aiohttp.ClientError, TimeoutError):
            failed += 1
            n += 1  # that replica is down: the next one
            await asyncio.sleep(0.05)


def _term_overlaps(url: str) -> list[str]:
    rows = query(
        url, "SELECT term, holder, first_at, last_at, writes FROM chain_terms ORDER BY term"
    )
    return [
        f"term {b['term']} ({b['holder']}) wrote from {b['first_at']:.3f}, before term "
        f"{a['term']} ({a['holder']}) stopped at {a['last_at']:.3f}"
        for a, b in itertools.pairwise(rows)
        if b["first_at"] < a["last_at"]
    ]


@pytest.mark.slow
@pytest.mark.timeout(420)
async def test_three_replicas_survive_leader_kills(
    tmp_path: Path, chain: DevChain, postgres: PgServer
) -> None:
    rng = random.Random(seed("scale_out"))
    start = await chain.block_number() + 1
    node = invariants.Node(chain.url, chain.token, start, CONFIRMATIONS)
    url = postgres.create_database(f"scale_out_{rng.randrange(10**9)}")
    replicas = []
    for n in range(REPLICAS):
        directory = tmp_path / f"replica{n}"
        directory.mkdir()
        raw = base_config(
            directory,
            chain_overrides(
                chain,
                start,
                {
                    "database": url,
                    "postback": POSTBACK,
                    "cluster": {"lease_ttl": LEASE_TTL},
                    "rpc": {"listen": f"127.0.0.1:{stable_port()}"},
                    "public": {"listen": f"127.0.0.1:{stable_port()}"},
                },
            ),
        )
        replicas.append(DaemonProcess(write_config(directory, raw)))
    acknowledged: dict[str, Any] = {}
    counts: dict[str, Any] = {
        "leader_kills": 0,
        "follower_restarts": 0,
        "retried_requests": 0,
        "failovers_seconds": [],
    }

    # (replica, its process's generation) that acknowledged each payment; for every process
    # started after a kill, the payments acknowledged before that kill
    life: dict[str, tuple[int, int]] = {}
    generation = [0] * REPLICAS
    before_life: dict[tuple[int, int], list[str]] = {}

    def killed(n: int) -> None:
        replicas[n].kill9()
        before_life[(n, generation[n] + 1)] = list(acknowledged)

    async def restart(n: int) -> None:
        await replicas[n].start()
        generation[n] += 1

    paying = asyncio.Lock()

    async def shop(session: aiohttp.ClientSession, hook: str) -> None:
        await asyncio.gather(*(lane(session, hook, n) for n in range(LANES)))

    async def lane(session: aiohttp.ClientSession, hook: str, first: int) -> None:
        for i in range(first, PAYMENTS, LANES):
            amount = f"{rng.randint(1, 1000)}.{rng.randint(0, 99_999_999):08d}"
            p, failed, by = await _start_payment(
                session,
                replicas,
                i,
                {
                    "amount": amount,
                    "order_id": f"scale-{i}",
                    "postback_url": hook,
                    "data": {"order": i},
                },
            )
            counts["retried_requests"] += failed
            acknowledged[p["id"]] = p
            life[p["id"]] = (by, generation[by])
            async with paying:  # one sender account: its transactions one at a time
                await chain.pay_tokens(p["address"], invariants._units(p["amount"], 8))
            await asyncio.sleep(rng.uniform(0.05, 0.4))  # the kills come while lanes run

    async def killer(session: aiohttp.ClientSession, payments: asyncio.Task[None]) -> None:
        follower_restart_at = rng.randint(1, LEADER_KILLS - 1)
        while counts["leader_kills"] < LEADER_KILLS or not payments.done():
            await asyncio.sleep(rng.uniform(1.0, 4.0))
            if counts["leader_kills"] >= LEADER_KILLS and payments.done():
                break
            leader = await _leader(session, replicas)
            killed(leader)
            killed_at = time.monotonic()
            counts["leader_kills"] += 1
            await _leader(session, [d for n, d in enumerate(replicas) if n != leader])
            counts["failovers_seconds"].append(round(time.monotonic() - killed_at, 2))
            await restart(leader)
            if counts["leader_kills"] == follower_restart_at:
                follower = (await _leader(session, replicas) + 1) % REPLICAS
                killed(follower)
                await asyncio.sleep(rng.uniform(0, 0.5))
                await restart(follower)
                counts["follower_restarts"] += 1

    for d in replicas:
        await d.start()
    try:
        async with PostbackReceiver(delay=0.05) as receiver, aiohttp.ClientSession() as session:
            payments = asyncio.create_task(shop(session, receiver.url))
            kills = asyncio.create_task(killer(session, payments))
            await asyncio.gather(payments, kills)
            await chain.mine(CONFIRMATIONS)
            final = await invariants.eventually(
                url,
                acknowledged,
                lambda: receiver.received,
                node,
                expected_total=PAYMENTS,
                timeout=90,
            )
    finally:
        exits = [d.terminate() for d in replicas]
    indexes = query(
        url, "SELECT COUNT(*) AS n, COUNT(DISTINCT derivation_index) AS d FROM payments"
    )[0]
    index = {
        r["id"]: r["derivation_index"]
        for r in query(url, "SELECT id, derivation_index FROM payments")
    }
    reused = [
        pid
        for pid, born in life.items()
        if born in before_life
        and index[pid] <= max((index[p] for p in before_life[born]), default=-1)
    ]
    overlaps = _term_overlaps(url)
    terms = query(url, "SELECT COUNT(*) AS n, MAX(term) AS top FROM chain_terms")[0]
    tracebacks = sum(d.log_path.read_text().count("Traceback") for d in replicas)
    counts.update(
        final.counts,
        exit_codes=exits,
        tracebacks=tracebacks,
        terms_that_wrote=terms["n"],
        last_term=terms["top"],
        derivation_indexes=indexes["d"],
        acknowledged_by_restarted_processes=sum(born in before_life for born in life.values()),
        indexes_below_a_killed_block=len(reused),
        term_overlaps=len(overlaps),
        violations=len(final.violations),
    )
    report("scale_out", counts)
    final.assert_ok()
    assert indexes["n"] == indexes["d"] == PAYMENTS
    assert reused == []
    assert counts["acknowledged_by_restarted_processes"] > 0
    assert overlaps == []
    assert counts["leader_kills"] >= LEADER_KILLS and counts["follower_restarts"] == 1
    assert terms["top"] >= LEADER_KILLS + 1

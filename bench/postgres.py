"""Benchmark 5: the PostgreSQL engine and replicas, ratios against baselines of this run.

a. start_payment/s on a PostgreSQL-backed daemon (synchronous_commit on) vs a raw asyncpg
   insert-and-commit loop of the same row and durability (sequential, one connection: the
   driver's ceiling per client; and 64 concurrent clients on a pool, for reference).
b. status.json on a PostgreSQL-backed daemon (the seeded payments copied over with
   ``db copy``) vs the bare aiohttp handler, as benchmark 1 does for SQLite, with each
   server's CPU time per request (``python -m bench pgstatus`` runs only this part).
c. RPC calls per block with 3 replicas vs 1 (only the leader scans), and the fail-over
   time: kill -9 of the leader until a block mined right after is scanned, median of 5.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time
import urllib.request
from pathlib import Path
from typing import Any

import asyncpg

from bench import cpu
from bench.chainkit import BenchChain, dev_chain
from bench.context import Context, say
from bench.procs import BareServer, BenchDaemon, loadgen, proc_cpu
from bench.report import Section, Target
from bench.seed import COLUMNS
from bench.start import _row
from tests.harness import free_port
from xbtcpay.storage.copy import copy_database
from xbtcpay.storage.engines import open_engine
from xbtcpay.storage.pg_server import PgServer

TARGET_RPS = 1500.0
FEW = 4  # clients per replica where commit latency, not CPU, bounds a replica
TARGET_RATIO = 0.7  # against the sequential loop; the pool of 64 is reported beside it
REPLICAS = 3
REPLICA_TARGET = 2.0  # 3 replicas on one database against 1
STATUS_TARGET_RATIO = 0.8  # cold: against the same point read
HOT_TARGET_RATIO = 0.9
DIRECT = "bare + asyncpg point read, 5 connections of its own"


def _get_body(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as resp:
        body: bytes = resp.read()
    return body


def _get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as resp:
        return json.loads(resp.read())


async def _migrated(server: PgServer, name: str) -> str:
    url = server.create_database(name)
    engine = await open_engine(url)
    await engine.close()
    return url


async def raw_loop(url: str, duration: float, warmup: float, clients: int) -> float:
    """INSERT + COMMIT per payment through asyncpg, ``clients`` at a time; payments/s."""
    sql = (
        f"INSERT INTO payments ({', '.join(COLUMNS)}) VALUES "
        f"({', '.join(f'${i + 1}' for i in range(len(COLUMNS)))})"
    )
    pool = await asyncpg.create_pool(url, min_size=clients, max_size=clients)
    now, counted, n = int(time.time()), 0, 10_000_000
    started = time.perf_counter()
    measure_from, deadline = started + warmup, started + warmup + duration

    async def client() -> None:
        nonlocal counted, n
        async with pool.acquire() as conn:
            while (t := time.perf_counter()) < deadline:
                n += 1
                row = _row(n, now)
                async with conn.transaction():
                    await conn.execute(sql, *row)
                if t >= measure_from:
                    counted += 1

    try:
        await asyncio.gather(*(client() for _ in range(clients)))
    finally:
        await pool.close()
    return counted / duration


async def _start(ctx: Context, server: PgServer) -> Section:
    s = ctx.sizes
    section = Section(
        "pg_start",
        "5a. start_payment on PostgreSQL (synchronous_commit on)",
        ["writer", "concurrent clients", "payments/s", "p50 ms", "p99 ms"],
    )
    say("pg: raw asyncpg insert+commit loop")
    raw = await raw_loop(await _migrated(server, "raw1"), s.duration, s.warmup, 1)
    section.rows.append(["raw asyncpg, 1 insert per commit", 1, raw, None, None])
    raw64 = await raw_loop(await _migrated(server, "raw64"), s.duration, s.warmup, 64)
    section.rows.append(["raw asyncpg, 1 insert per commit, pool of 64", 64, raw64, None, None])
    work = ctx.dir("pg-start")
    url = await _migrated(server, "daemon_start")
    daemon = BenchDaemon(ctx.daemon_config(work, work / "unused.db", {"database": url}))
    one: dict[int, float] = {}  # payments/s of one replica by clients
    try:
        for clients in sorted({*s.start_concurrency, FEW}):
            say(f"pg: daemon start_payment with {clients} clients")
            window = cpu.split({daemon.pid: "daemon"}, s.warmup + 0.1, max(0.2, s.duration - 1))
            r, cores = await asyncio.gather(
                loadgen(
                    "start",
                    daemon.rpc_url,
                    concurrency=clients,
                    duration=s.duration,
                    warmup=s.warmup,
                ),
                window,
            )
            section.notes.append(f"CPU at {clients} clients: {cpu.describe(cores)}")
            one[clients] = float(r["rps"])
            section.rows.append(
                ["xbtcpay daemon on PostgreSQL", clients, r["rps"], r["p50_ms"], r["p99_ms"]]
            )
    finally:
        daemon.stop()
    best = max(one[c] for c in s.start_concurrency)
    # FEW clients per replica: commits, not the two cores, bound one replica; replicas that
    # queued on a shared row would make about as many payments together as one alone
    together: dict[int, float] = {}
    for clients in sorted({FEW, max(s.start_concurrency)}):
        say(f"pg: {REPLICAS} replicas on one database, {clients} clients each")
        together[clients], cores = await _replicas_start(ctx, server, clients)
        section.notes.append(
            f"CPU with {REPLICAS} replicas, {clients} clients each: {cpu.describe(cores)}"
        )
        section.rows.append(
            [f"{REPLICAS} xbtcpay replicas on one PostgreSQL (sum)", clients * REPLICAS]
            + [together[clients], None, None]
        )
    section.ratios[f"{REPLICAS} replicas / 1, {FEW} clients each"] = (
        together[FEW] / one[FEW] if one[FEW] else 0.0
    )
    together_best = together[max(s.start_concurrency)]
    section.ratios["daemon best / raw sequential loop"] = best / raw
    section.ratios["daemon best / raw pool of 64"] = best / raw64
    section.ratios[f"{REPLICAS} replicas / 1"] = together_best / best if best else 0.0
    section.targets.append(Target("daemon payments/s on PostgreSQL", best, ">=", TARGET_RPS))
    section.targets.append(Target("daemon / raw sequential loop", best / raw, ">=", TARGET_RATIO))
    section.targets.append(
        Target(
            f"{REPLICAS} replicas / 1, payments/s",
            together_best / best if best else 0.0,
            ">=",
            REPLICA_TARGET,
        )
    )
    section.notes.append(
        "the daemon's pool has database_pool_size=10 connections; every "
        "start_payment also writes its event row; its address's derivation index "
        "comes from a block the replica reserved apart"
    )
    return section


async def _replicas_start(
    ctx: Context, server: PgServer, clients: int
) -> tuple[float, dict[str, float]]:
    """Payments/s of REPLICAS daemons on one database, each with its own ``clients``
    (all load generators at once; the sum of what each replica acknowledged)."""
    s = ctx.sizes
    url = await _migrated(server, f"daemon_start_replicas_{clients}")
    daemons = []
    try:
        for n in range(REPLICAS):
            work = ctx.dir(f"pg-start-replica-{n}-{clients}")
            daemons.append(
                BenchDaemon(ctx.daemon_config(work, work / "unused.db", {"database": url}))
            )
        named = {d.pid: "daemons" for d in daemons}
        window = asyncio.create_task(cpu.split(named, s.warmup + 0.1, max(0.2, s.duration - 1)))
        results = await asyncio.gather(
            *(
                loadgen(
                    "start", d.rpc_url, concurrency=clients, duration=s.duration, warmup=s.warmup
                )
                for d in daemons
            )
        )
        cores = await window
    finally:
        for d in daemons:
            d.stop()
    return sum(float(r["rps"]) for r in results), cores


async def _status(ctx: Context, server: PgServer) -> Section:
    s = ctx.sizes
    section = Section(
        "pg_status",
        f"5b. status.json on PostgreSQL, {s.payments:,} payments",
        ["server", "connections", "requests/s", "p50 ms", "p99 ms", "server CPU µs/request"],
    )
    work = ctx.dir("pg-status")
    url = await _migrated(server, "daemon_status")
    source = await open_engine(f"sqlite:///{ctx.seeded()}")
    target = await open_engine(url)
    try:
        say("pg: db copy of the seeded payments")
        await copy_database(source, target)
        ids = [r[0] for r in await target.fetchall("SELECT id FROM payments")]
        hot_ids = [
            r[0]
            for r in await target.fetchall(
                "SELECT id FROM payments ORDER BY created_at DESC LIMIT 2000"
            )
        ]
    finally:
        await source.close()
        await target.close()
    (work / "ids.txt").write_text("\n".join(ids) + "\n")
    daemon = BenchDaemon(ctx.daemon_config(work, work / "unused.db", {"database": url}))
    bare: BareServer | None = None
    point: BareServer | None = None
    direct: BareServer | None = None
    follower: BenchDaemon | None = None
    try:
        follower_work = ctx.dir("pg-status-follower")
        follower = BenchDaemon(
            ctx.daemon_config(follower_work, follower_work / "unused.db", {"database": url})
        )
        body = await asyncio.to_thread(_get_body, f"{daemon.public_url}/{ids[0]}/status.json")
        (work / "body.json").write_bytes(body)
        bare = BareServer(free_port(), work / "body.json", work)
        point = BareServer(free_port(), work / "body.json", work, ("postgresql", url))
        direct = BareServer(free_port(), work / "body.json", work, ("postgresql-direct", url, "5"))
        hot = work / "hot-ids.txt"
        hot.write_text("\n".join(hot_ids) + "\n")
        results = {}
        for name, child, id_file in (
            ("bare aiohttp", bare, work / "ids.txt"),
            ("bare + asyncpg point read", point, work / "ids.txt"),
            (DIRECT, direct, work / "ids.txt"),
            ("xbtcpay daemon on PostgreSQL", daemon, work / "ids.txt"),
            (f"bare aiohttp, hot set of {len(hot_ids):,}", bare, hot),
            (f"xbtcpay daemon on PostgreSQL, hot set of {len(hot_ids):,}", daemon, hot),
            (f"xbtcpay follower replica, hot set of {len(hot_ids):,}", follower, hot),
        ):
            say(f"pg: status.json -> {name}")
            base = child.public_url if isinstance(child, BenchDaemon) else child.url
            cpu = proc_cpu(child.pid)
            r = await loadgen(
                "status",
                base,
                concurrency=s.connections,
                duration=s.duration,
                warmup=s.warmup,
                ids_file=id_file,
            )
            cpu = proc_cpu(child.pid) - cpu
            per_request = (
                1e6 * cpu / r["total_including_warmup"] if r["total_including_warmup"] else None
            )
            results[name] = r
            section.rows.append(
                [name, s.connections, r["rps"], r["p50_ms"], r["p99_ms"], per_request]
            )
    finally:
        for extra in (bare, point, direct, follower):
            if extra is not None:
                extra.stop()
        daemon.stop()
    rps = {name: r["rps"] for name, r in results.items()}
    ratio = rps["xbtcpay daemon on PostgreSQL"] / rps["bare aiohttp"]
    section.ratios["daemon on PostgreSQL / bare (python)"] = ratio
    cold = rps["xbtcpay daemon on PostgreSQL"] / rps["bare + asyncpg point read"]
    section.ratios["daemon / bare + asyncpg point read, random ids (python)"] = cold
    section.targets.append(
        Target("daemon / bare + asyncpg point read, random ids", cold, ">=", STATUS_TARGET_RATIO)
    )
    honest = rps["xbtcpay daemon on PostgreSQL"] / rps[DIRECT]
    section.ratios["daemon / bare + point read on its own connections, random ids"] = honest
    section.notes.append(
        "the pool's point read (the target's baseline) pays acquire/release and the pool's "
        "reset query, a second round trip, per request; the read on connections of its own "
        "is one round trip, as the daemon's point reads are"
    )
    hot_names = [name for name in rps if "hot set" in name]
    hot_ratio = rps[hot_names[1]] / rps[hot_names[0]]
    section.ratios["daemon / bare, hot set (python)"] = hot_ratio
    section.targets.append(Target("daemon / bare, hot set", hot_ratio, ">=", HOT_TARGET_RATIO))
    follower_ratio = rps[hot_names[2]] / rps[hot_names[0]]
    section.ratios["follower / bare, hot set (python)"] = follower_ratio
    section.targets.append(
        Target("follower / bare, hot set", follower_ratio, ">=", HOT_TARGET_RATIO)
    )
    return section


def _calls(daemon: BenchDaemon) -> float:
    with urllib.request.urlopen(daemon.rpc_url + "/metrics", timeout=10) as resp:
        text = resp.read().decode()
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("xbtcpay_chain_rpc_calls_total{")
    )


def _cluster(daemon: BenchDaemon) -> dict[str, Any]:
    try:
        doc = _get_json(daemon.rpc_url + "/healthz")
    except OSError:
        return {}
    return {**doc["checks"]["cluster"], "head": doc["checks"]["chain"]["head"]}


def _replica_configs(
    ctx: Context, chain: BenchChain, url: str, start: int, count: int, ttl: float, tag: str
) -> list[Path]:
    configs = []
    for n in range(count):
        work = ctx.dir(f"pg-{tag}-{n}")
        configs.append(
            ctx.daemon_config(
                work,
                work / "unused.db",
                {
                    "database": url,
                    "cluster": {"lease_ttl": ttl},
                    "chain": {
                        "rpc_urls": [chain.url],
                        "start_block": start,
                        "confirmations": 3,
                        "poll_interval": ctx.sizes.poll_interval,
                        "reconcile_interval": 3600,
                    },
                    "assets": {"0xbtc": {"contract": chain.token}},
                },
            )
        )
    return configs


async def _calls_per_block(
    ctx: Context, chain: BenchChain, server: PgServer, count: int
) -> tuple[float, float]:
    """(calls per block of every replica together, of the followers together)."""
    url = await _migrated(server, f"calls_{count}")
    start = await chain.client.block_number() + 1
    daemons = [
        BenchDaemon(c, watcher=True)
        for c in _replica_configs(ctx, chain, url, start, count, 10.0, f"calls{count}")
    ]
    try:
        await _until(lambda: any(_cluster(d).get("is_leader") for d in daemons), 30)
        await chain.mine(1)
        await asyncio.sleep(ctx.sizes.poll_interval * 3)
        before = [_calls(d) for d in daemons]
        blocks = ctx.sizes.watcher_blocks
        for _ in range(blocks):
            await chain.mine(1)
            await asyncio.sleep(ctx.sizes.poll_interval * 1.5)
        made = [_calls(d) - b for d, b in zip(daemons, before, strict=True)]
        followers = sum(
            m for d, m in zip(daemons, made, strict=True) if not _cluster(d).get("is_leader")
        )
        return sum(made) / blocks, followers / blocks
    finally:
        for d in daemons:
            d.stop()


async def _until(predicate: Any, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met")
        await asyncio.sleep(0.05)


async def _failover(ctx: Context, chain: BenchChain, server: PgServer, ttl: float) -> list[float]:
    url = await _migrated(server, f"failover_{int(ttl)}")
    start = await chain.client.block_number() + 1
    configs = _replica_configs(ctx, chain, url, start, 3, ttl, f"failover{int(ttl)}")
    daemons = [BenchDaemon(c, watcher=True) for c in configs]
    times = []
    try:
        for _ in range(ctx.sizes.failovers):
            await _until(lambda: any(_cluster(d).get("is_leader") for d in daemons), 60)
            leader = next(n for n, d in enumerate(daemons) if _cluster(d).get("is_leader"))
            daemons[leader].proc.kill()  # SIGKILL
            daemons[leader].proc.wait()
            killed = time.monotonic()
            await chain.mine(1)
            target = await chain.client.block_number()
            others = [d for n, d in enumerate(daemons) if n != leader]

            def scanned(others: list[BenchDaemon] = others, target: int = target) -> bool:
                return any(
                    c.get("is_leader") and (c.get("head") or 0) >= target
                    for c in map(_cluster, others)
                )

            await _until(scanned, ttl * 3 + 30)
            times.append(time.monotonic() - killed)
            daemons[leader] = BenchDaemon(configs[leader], watcher=True)
    finally:
        for d in daemons:
            d.stop()
    return times


async def _replicas(ctx: Context, server: PgServer) -> Section:
    section = Section(
        "pg_replicas",
        "5c. Replicas: RPC calls per block, fail-over time",
        ["measurement", "replicas", "value"],
    )
    async with dev_chain() as chain:
        say("pg: calls per block, 1 replica")
        one, _ = await _calls_per_block(ctx, chain, server, 1)
        say("pg: calls per block, 3 replicas")
        three, followers = await _calls_per_block(ctx, chain, server, 3)
        section.rows.append(["RPC calls per block (mean)", 1, one])
        section.rows.append(["RPC calls per block (mean, all replicas)", 3, three])
        section.rows.append(["RPC calls per block made by the followers", 3, followers])
        section.ratios["calls per block, 3 replicas / 1"] = three / one if one else 0.0
        section.targets.append(
            Target(
                "followers' RPC calls per block",
                followers,
                "<=",
                0.0,
                "only the leader scans; 3/1 varies with poll timing",
            )
        )
        for ttl in (10.0, 2.0) if ctx.sizes.failovers > 1 else (2.0,):
            say(f"pg: fail-over x{ctx.sizes.failovers}, lease_ttl {ttl}")
            times = await _failover(ctx, chain, server, ttl)
            label = (
                f"fail-over s, lease_ttl {ttl:g} (median of {len(times)}; "
                f"min {min(times):.2f}, max {max(times):.2f})"
            )
            section.rows.append([label, 3, statistics.median(times)])
            section.targets.append(
                Target(
                    f"fail-over median, lease_ttl {ttl:g}",
                    statistics.median(times),
                    "<=",
                    ttl + ctx.sizes.poll_interval + 1.0,
                    "TTL + one poll + 1 s of slack",
                )
            )
    return section


async def run(ctx: Context) -> list[Section]:
    with PgServer(free_port()) as server:
        return [await _start(ctx, server), await _status(ctx, server), await _replicas(ctx, server)]


def main(ctx: Context) -> list[Section]:
    return asyncio.run(run(ctx))


async def run_status(ctx: Context) -> Section:
    with PgServer(free_port()) as server:
        return await _status(ctx, server)


def status_main(ctx: Context) -> Section:
    """Only part b (status.json), for profiling the cold path."""
    return asyncio.run(run_status(ctx))

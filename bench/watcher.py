"""Benchmark 4: the chain watcher on anvil: RPC cost per block, catch-up speed, latency.

a. RPC calls per new block with 10 / 10,000 / 100,000 open payments: the watcher runs in
   process on the seeded database and ``poll()`` is called once per mined block (half of
   them carrying a transfer to an open payment); the client counts every HTTP request.
   The periodic balance reconciliation (every ``chain.reconcile_interval``, 30 s by
   default) is measured apart: its cost grows with open payments by design.
b. Catch-up over a range holding many token transfers (a share of them paying open payments)
   against a raw ``eth_getLogs`` sweep of the same range in the watcher's range size.
c. Detection latency: the real daemon with its watcher in a subprocess; from the moment the
   confirming block exists to status.json showing ``paid`` and to the postback arriving.
"""

from __future__ import annotations

import asyncio
import random
import shutil
import sqlite3
import statistics
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp

from bench.chainkit import BenchChain, anvil_available, dev_chain, sign_transfers
from bench.context import Context, say
from bench.procs import BenchDaemon
from bench.report import Section, Target
from bench.seed import keep_first, open_payments
from tests.harness import PostbackReceiver, base_config, deep_merge, write_config
from xbtcpay.app.config import parse_config
from xbtcpay.app.daemon import Daemon
from xbtcpay.chain.deposits import TRANSFER_TOPIC
from xbtcpay.chain.watcher import Watcher

TARGET_CALLS_PER_BLOCK = 3.0
TARGET_CATCHUP_RATIO = 0.5
LATENCY_SLACK = 0.5
NOT_DETECTED = 30.0  # seconds: a round that timed out counts as this (a missed target)


def _chain_overrides(chain: BenchChain, start: int | str, poll: float = 3600.0) -> dict[str, Any]:
    return {
        "chain": {
            "rpc_urls": [chain.url],
            "start_block": start,
            "confirmations": 3,
            "poll_interval": poll,
            "reconcile_interval": 3600,
            "request_timeout": 60,
        },
        "assets": {"0xbtc": {"contract": chain.token}},
    }


def _database_with(ctx: Context, directory: Path, count: int) -> Path:
    db = directory / "xbtcpay.db"
    if count >= ctx.sizes.payments:
        shutil.copyfile(ctx.seeded(), db)
    else:
        keep_first(ctx.seeded(), db, count)
    return db


async def _in_process(
    directory: Path, db: Path, overrides: dict[str, Any]
) -> tuple[Daemon, Watcher]:
    raw = base_config(directory, deep_merge({"database": f"sqlite:///{db}"}, overrides))
    config = parse_config(raw, write_config(directory, raw))
    daemon = Daemon(config, watcher=False)
    await daemon.start()
    assert daemon.parts is not None
    return daemon, daemon.parts.chain.watcher(daemon.parts.processor)


def _units(amount: str) -> int:
    return int(Decimal(amount).scaleb(8))


def _amounts(db: Path, ids: list[str]) -> dict[str, str]:
    conn = sqlite3.connect(db)
    try:
        marks = ",".join("?" * len(ids))
        return dict(conn.execute(f"SELECT id, amount FROM payments WHERE id IN ({marks})", ids))
    finally:
        conn.close()


# -- a. calls per block ------------------------------------------------------------------------


async def _cost_for(ctx: Context, chain: BenchChain, count: int, section: Section) -> float:
    work = ctx.dir(f"watcher-cost-{count}")
    db = _database_with(ctx, work, count)
    watched = open_payments(db)
    start = await chain.client.block_number() + 1
    daemon, watcher = await _in_process(work, db, _chain_overrides(chain, start))
    try:
        first_started = time.perf_counter()
        await watcher.poll()
        first_poll = time.perf_counter() - first_started
        calls, seconds = [], []
        nonce = await chain.nonce()
        rng = random.Random(count)
        for block in range(ctx.sizes.watcher_blocks):
            if block % 2 == 0:
                _, address = rng.choice(watched)
                nonce = await chain.queue_transfers([(address, 1000)], nonce)
            await chain.mine(1)
            before = watcher.client.calls_total
            started = time.perf_counter()
            await watcher.poll()
            seconds.append(time.perf_counter() - started)
            calls.append(watcher.client.calls_total - before)
        found = await daemon.parts.db.fetchone("SELECT COUNT(*) AS n FROM deposits")  # type: ignore[union-attr]
        before = watcher.client.calls_total
        started = time.perf_counter()
        await watcher.reconcile()
        reconcile_s = time.perf_counter() - started
        reconcile_calls = watcher.client.calls_total - before
    finally:
        await daemon.stop()
    per_block = statistics.mean(calls)
    section.rows.append(
        [
            f"{count:,}",
            len(calls),
            per_block,
            max(calls),
            statistics.median(seconds) * 1000,
            first_poll * 1000,
            int(found["n"]) if found else 0,
            reconcile_calls,
            reconcile_s * 1000,
        ]
    )
    return per_block


async def _cost(ctx: Context, chain: BenchChain) -> Section:
    section = Section(
        "watcher_cost",
        "4a. Watcher RPC calls per new block (ERC-20 only)",
        [
            "open payments",
            "blocks",
            "calls/block (mean)",
            "calls/block (max)",
            "poll ms (median)",
            "first poll ms",
            "deposits found",
            "reconciliation calls",
            "reconciliation ms",
        ],
    )
    worst = 0.0
    per_count: dict[int, float] = {}
    for count in ctx.sizes.watcher_open:
        say(f"watcher: calls per block with {count:,} open payments")
        per_count[count] = await _cost_for(ctx, chain, count, section)
        worst = max(worst, per_count[count])
    smallest, largest = min(per_count), max(per_count)
    section.ratios[f"calls/block at {largest:,} vs {smallest:,} open"] = (
        per_count[largest] / per_count[smallest]
    )
    section.targets.append(
        Target("calls per new block (worst count)", worst, "<=", TARGET_CALLS_PER_BLOCK)
    )
    section.notes.append(
        "reconciliation runs every chain.reconcile_interval (30 s default), "
        "not per block: one batch of up to 1,000 balanceOf calls per 1,000 "
        "open payments"
    )
    return section


# -- b. catch-up -------------------------------------------------------------------------------


async def _fill(ctx: Context, chain: BenchChain, payers: list[tuple[str, int]]) -> tuple[int, int]:
    """Mine ``catchup_blocks`` blocks holding ``catchup_transfers`` transfers; return range."""
    s = ctx.sizes
    rng = random.Random(5)
    transfers = [
        (f"0x{rng.getrandbits(160):040x}", rng.randint(1, 10**8))
        for _ in range(s.catchup_transfers - len(payers))
    ]
    for n, payer in enumerate(payers):
        transfers.insert((n * len(transfers)) // max(1, len(payers)), payer)
    groups = max(1, min(s.catchup_groups, s.catchup_blocks))
    every = s.catchup_blocks // groups
    per_group = -(-len(transfers) // groups)
    start = await chain.client.block_number() + 1
    raws = sign_transfers(
        chain.token, await chain.client.chain_id(), await chain.nonce(), transfers
    )
    mined = 0
    for g in range(groups):
        await chain.send_raw(raws[g * per_group : (g + 1) * per_group])
        step = every if g < groups - 1 else s.catchup_blocks - mined
        await chain.mine(step)
        mined += step
    end = await chain.client.block_number()
    return start, end


def _time_phases(watcher: Watcher) -> dict[str, float]:
    """Wall time spent in each phase of the watcher's poll (timers on this instance only)."""
    phases = {
        "scan (headers + logs + checkpoint)": 0.0,
        "balance reconciliation": 0.0,
        "settle payments": 0.0,
    }
    for attr, name in zip(("_advance", "_reconcile_if_due", "evaluate"), phases, strict=True):
        inner = getattr(watcher, attr)

        async def timed(*args: Any, _inner: Any = inner, _name: str = name) -> Any:
            started = time.perf_counter()
            try:
                return await _inner(*args)
            finally:
                phases[_name] += time.perf_counter() - started

        setattr(watcher, attr, timed)
    return phases


async def raw_sweep(
    url: str, token: str, start: int, end: int, step: int, headers: bool = False
) -> tuple[float, int]:
    """eth_getLogs over [start, end] in ranges of ``step`` with a bare aiohttp session.

    ``headers`` also fetches every block header of each range in one batch request, as the
    watcher does to check the parent-hash chain.
    """
    found = 0
    async with aiohttp.ClientSession() as session:
        started = time.perf_counter()
        for low in range(start, end + 1, step):
            high = min(end, low + step - 1)
            query = {
                "fromBlock": hex(low),
                "toBlock": hex(high),
                "address": [token],
                "topics": [TRANSFER_TOPIC],
            }
            body: Any = {"jsonrpc": "2.0", "id": 1, "method": "eth_getLogs", "params": [query]}
            async with session.post(url, json=body) as resp:
                found += len((await resp.json())["result"])
            if headers:
                body = [
                    {
                        "jsonrpc": "2.0",
                        "id": n,
                        "method": "eth_getBlockByNumber",
                        "params": [hex(n), False],
                    }
                    for n in range(low, high + 1)
                ]
                async with session.post(url, json=body) as resp:
                    assert len(await resp.json()) == high - low + 1
        return time.perf_counter() - started, found


async def _catchup(ctx: Context, chain: BenchChain) -> Section:
    s = ctx.sizes
    section = Section(
        "watcher_catchup",
        f"4b. Watcher catch-up: {s.catchup_blocks:,} blocks, "
        f"{s.catchup_transfers:,} token transfers",
        ["reader", "seconds", "blocks/s", "transfers/s", "RPC requests", "payments paid"],
    )
    work = ctx.dir("watcher-catchup")
    open_count = min(s.payments, 10_000)
    db = _database_with(ctx, work, open_count)
    watched = open_payments(db)[: s.catchup_to_payments]
    amounts = _amounts(db, [pid for pid, _ in watched])
    payers = [(address, _units(amounts[pid])) for pid, address in watched]
    say(f"watcher: mining {s.catchup_blocks:,} blocks with {s.catchup_transfers:,} transfers")
    filled = time.perf_counter()
    start, end = await _fill(ctx, chain, payers)
    section.notes.append(
        f"chain filled in {time.perf_counter() - filled:.1f}s; range "
        f"{start}..{end}; {open_count:,} open payments, "
        f"{len(payers)} of the transfers pay one of them in full; transfers "
        f"in {min(s.catchup_groups, s.catchup_blocks)} blocks spread evenly"
    )
    daemon, watcher = await _in_process(work, db, _chain_overrides(chain, start))
    step = watcher.range
    say("watcher: raw eth_getLogs sweep")
    sweeps = [await raw_sweep(chain.url, chain.token, start, end, step) for _ in range(3)]
    raw_s = statistics.median(t for t, _ in sweeps)
    logs = sweeps[0][1]
    requests = -(-(end - start + 1) // step)
    rows = [
        [
            "raw eth_getLogs sweep (median of 3)",
            raw_s,
            (end - start + 1) / raw_s,
            logs / raw_s,
            requests,
            None,
        ]
    ]
    with_headers = statistics.median(
        [
            (await raw_sweep(chain.url, chain.token, start, end, step, headers=True))[0]
            for _ in range(3)
        ]
    )
    rows.append(
        [
            "raw sweep + every block header, batched (median of 3)",
            with_headers,
            (end - start + 1) / with_headers,
            logs / with_headers,
            2 * requests,
            None,
        ]
    )
    try:
        say("watcher: catch-up poll")
        await chain.mine(3)  # confirm the last transfers
        phases = _time_phases(watcher)
        started = time.perf_counter()
        await watcher.poll()
        watcher_s = time.perf_counter() - started
        requests = watcher.client.calls_total
        rt = daemon.parts
        assert rt is not None
        paid = (await rt.payments.count_by_status()).get("paid", 0)
    finally:
        await daemon.stop()
    blocks = end - start + 4
    rows.append(
        [
            "watcher poll (scan + reconcile + settle)",
            watcher_s,
            blocks / watcher_s,
            logs / watcher_s,
            requests,
            paid,
        ]
    )
    section.rows = rows
    section.notes.append(
        "watcher poll, wall time by phase: "
        + ", ".join(f"{name} {seconds:.2f}s" for name, seconds in phases.items())
    )
    section.ratios["watcher speed / raw sweep"] = raw_s / watcher_s
    section.targets.append(
        Target("catch-up speed vs raw sweep", raw_s / watcher_s, ">=", TARGET_CATCHUP_RATIO)
    )
    if logs != s.catchup_transfers:
        section.notes.append(f"the sweep found {logs} transfers, {s.catchup_transfers} sent")
    if paid != len(payers):
        section.notes.append(f"{paid} payments paid, {len(payers)} expected")
    return section


# -- c. latency --------------------------------------------------------------------------------


async def _latency_round(
    chain: BenchChain,
    daemon: BenchDaemon,
    receiver: PostbackReceiver,
    session: aiohttp.ClientSession,
    poll: float,
    rng: random.Random,
) -> tuple[float, float]:
    body = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "start_payment",
        "params": {"amount": "1.25", "postback_url": receiver.url},
    }
    async with session.post(daemon.rpc_url + "/", json=body) as resp:
        payment = (await resp.json())["result"]
    nonce = await chain.nonce()
    await chain.queue_transfers([(payment["address"], _units("1.25"))], nonce)
    await chain.mine(1)  # the transfer's block: 1 confirmation
    await chain.mine(1)  # 2 confirmations
    await asyncio.sleep(rng.uniform(0, poll))
    await chain.mine(1)  # the confirming block (3 confirmations)
    mined = time.time()
    url = f"{daemon.public_url}/{payment['id']}/status.json"
    while True:
        async with session.get(url) as resp:
            if (await resp.json())["status"] == "paid":
                break
        if time.time() - mined > NOT_DETECTED:
            raise TimeoutError("payment not paid 30 s after its confirming block")
        await asyncio.sleep(0.01)
    to_paid = time.time() - mined
    while not (mine := [r for r in receiver.received if r["json"].get("id") == payment["id"]]):
        if time.time() - mined > NOT_DETECTED:
            raise TimeoutError("no postback 30 s after the confirming block")
        await asyncio.sleep(0.01)
    return to_paid, mine[0]["at"] - mined


async def _latency(ctx: Context, chain: BenchChain) -> Section:
    s = ctx.sizes
    section = Section(
        "watcher_latency",
        f"4c. Detection latency (poll interval {s.poll_interval}s, "
        "3 confirmations, daemon in its own process)",
        [
            "round",
            "confirming block -> status paid (s)",
            "confirming block -> postback received (s)",
        ],
    )
    work = ctx.dir("watcher-latency")
    db = work / "xbtcpay.db"
    receiver = await PostbackReceiver().start()
    fresh = 10 + s.payments + 1_000  # addresses the other benchmarks never paid
    overrides = deep_merge(
        _chain_overrides(chain, "latest", s.poll_interval),
        {"postback": {"base_delay": 0.2}, "wallet": {"first_index": fresh}},
    )
    daemon = BenchDaemon(ctx.daemon_config(work, db, overrides), watcher=True)
    rng = random.Random(9)
    paid, posted = [], []
    try:
        async with aiohttp.ClientSession() as session:
            for n in range(s.latency_rounds):
                say(f"watcher: latency round {n + 1}")
                try:
                    a, b = await _latency_round(
                        chain, daemon, receiver, session, s.poll_interval, rng
                    )
                except TimeoutError as exc:
                    a = b = NOT_DETECTED
                    tail = daemon.log_path.read_text()[-1500:]
                    section.notes.append(f"round {n + 1}: {exc}; daemon log tail: {tail!r}")
                paid.append(a)
                posted.append(b)
                section.rows.append([n + 1, a, b])
    finally:
        daemon.stop()
        await receiver.stop()
    section.rows.append(["median", statistics.median(paid), statistics.median(posted)])
    section.rows.append(["max", max(paid), max(posted)])
    limit = s.poll_interval + LATENCY_SLACK
    section.targets.append(Target("max seconds to paid", max(paid), "<=", limit))
    section.targets.append(Target("max seconds to postback", max(posted), "<=", limit))
    section.notes.append("the confirming block is mined at a random moment of the poll cycle")
    return section


async def run(ctx: Context) -> list[Section]:
    """The three watcher benchmarks on one private anvil."""
    if not anvil_available():
        pending = Section(
            "watcher",
            "4. Watcher",
            [],
            pending="anvil not installed: run `npm install` at the repository root",
        )
        return [pending]
    # anvil slows down as its history grows; 256 states are plenty for the watcher
    args = ["--prune-history", "256"] if ctx.sizes.catchup_blocks > 1000 else []
    async with dev_chain(args=args) as chain:
        catchup = await _catchup(ctx, chain)  # first: its payers' addresses are untouched
        return [await _cost(ctx, chain), catchup, await _latency(ctx, chain)]


def main(ctx: Context) -> list[Section]:
    return asyncio.run(run(ctx))

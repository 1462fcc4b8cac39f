"""Benchmark 4d: the watchers of three chains at once: RPC cost per block per chain, and
the detection latency on a fast chain.

The seeded open payments are spread over three chains (a third each, by row), one daemon
watches three anvils (chain ids 31337, 8453, 42161), and every chain gets one new block per
round, half of them carrying a transfer to an open payment of that chain; each chain's
watcher polls once per round and its own client counts every HTTP request. The same rounds
run against one chain holding every payment: the single-chain figure the three-chain one is
compared with, in the same run.

Memory: the real daemon in its own process with ``sizes.payments`` open payments on each of the
three chains, its three watchers on, after their first polls loaded every issued address and
reconciled every open payment's balance: its RSS (now and peak).

Latency: the real daemon in its own process watches the three chains; on the fast one
(poll interval 0.25 s, 3 confirmations) a payment's confirming block is mined at a random
moment of the poll cycle and the time to status.json ``paid`` and to the postback is taken.
"""

from __future__ import annotations

import asyncio
import json
import random
import re
import sqlite3
import statistics
import time
import urllib.error
import urllib.request
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import aiohttp

from bench.chainkit import BenchChain, anvil_available, dev_chain
from bench.context import Context, say
from bench.procs import BenchDaemon, proc_memory
from bench.report import Section, Target
from bench.seed import keep_first, seed
from tests.harness import DEV_XPUB, PostbackReceiver, base_config, write_config
from xbtcpay.app.config import parse_config
from xbtcpay.app.daemon import Daemon
from xbtcpay.chain.watcher import Watcher

CHAINS = {"l1": 31337, "base": 8453, "arb": 42161}
ASSETS = {"l1": "0xbtc", "base": "xbtc_base", "arb": "xbtc_arb"}
TARGET_CALLS_PER_BLOCK = 3.0
FAST_POLL = 0.25  # seconds: the fast chain's poll interval (its blocks come as fast)
LATENCY_SLACK = 0.5
TARGET_RSS_MB = 200.0
BALANCE_BATCH = 1000  # balanceOf calls per batch request of a reconciliation
NOT_DETECTED = 30.0


def _spread(db: Path, keys: list[str]) -> dict[str, list[str]]:
    """Give the open payments of ``db`` to ``keys``' assets in turn; their addresses per key."""
    conn = sqlite3.connect(db)
    try:
        rows = conn.execute("SELECT rowid, address FROM payments WHERE status = 'new'").fetchall()
        out: dict[str, list[str]] = {k: [] for k in keys}
        updates = []
        for rowid, address in rows:
            key = keys[rowid % len(keys)]
            out[key].append(address)
            updates.append((ASSETS[key], rowid))
        conn.executemany("UPDATE payments SET asset = ? WHERE rowid = ?", updates)
        conn.commit()
        return out
    finally:
        conn.close()


def _config(directory: Path, db: Path, nodes: dict[str, BenchChain]) -> dict[str, Any]:
    raw = base_config(directory, {"database": f"sqlite:///{db}"})
    raw.pop("chain")
    raw["chains"] = {
        key: {
            "chain_id": CHAINS[key],
            "rpc_urls": [node.url],
            "poll_interval": 3600,
            "start_block": "latest",
            "reconcile_interval": 3600,
            "request_timeout": 60,
        }
        for key, node in nodes.items()
    }
    raw["assets"] = {
        ASSETS[key]: {"chain": key, "contract": node.token, "decimals": 8}
        for key, node in nodes.items()
    }
    raw["default_asset"] = ASSETS[next(iter(nodes))]
    return raw


async def _calls_per_block(
    ctx: Context, nodes: dict[str, BenchChain], count: int, label: str
) -> dict[str, float]:
    """Mean HTTP requests per new block of each chain's watcher."""
    work = ctx.dir(f"chains-{label}-{count}")
    db = work / "xbtcpay.db"
    keep_first(ctx.seeded(), db, count)
    addresses = _spread(db, list(nodes))
    raw = _config(work, db, nodes)
    daemon = Daemon(parse_config(raw, write_config(work, raw)), watcher=False)
    await daemon.start()
    try:
        assert daemon.parts is not None
        watchers: dict[str, Watcher] = {
            key: daemon.parts.chains[key].watcher(daemon.parts.processor) for key in nodes
        }
        await asyncio.gather(*(w.poll() for w in watchers.values()))  # address book, cursor
        nonces = {key: await node.nonce() for key, node in nodes.items()}
        calls: dict[str, list[int]] = {key: [] for key in nodes}
        rng = random.Random(count)
        for block in range(ctx.sizes.watcher_blocks):
            for key, node in nodes.items():
                if block % 2 == 0 and addresses[key]:
                    to = rng.choice(addresses[key])
                    nonces[key] = await node.queue_transfers([(to, 1000)], nonces[key])
                await node.mine(1)
            before = {key: w.client.calls_total for key, w in watchers.items()}
            await asyncio.gather(*(w.poll() for w in watchers.values()))
            for key, w in watchers.items():
                calls[key].append(w.client.calls_total - before[key])
    finally:
        await daemon.stop()
    return {key: statistics.mean(values) for key, values in calls.items()}


async def run(ctx: Context) -> Section:
    section = Section(
        "chains_cost",
        "4d. RPC calls per new block per chain, payments spread over three chains",
        ["open payments", "chains", "chain", "calls/block (mean)"],
    )
    if not anvil_available():
        section.pending = "anvil not installed (npm install)"
        return section
    counts = (min(ctx.sizes.watcher_open), max(ctx.sizes.watcher_open))
    async with AsyncExitStack() as stack:
        nodes = {
            key: await stack.enter_async_context(dev_chain(args=["--chain-id", str(chain_id)]))
            for key, chain_id in CHAINS.items()
        }
        three: dict[int, dict[str, float]] = {}
        single: dict[int, float] = {}
        for count in counts:
            say(f"chains: calls per block with {count:,} open payments over three chains")
            three[count] = await _calls_per_block(ctx, nodes, count, "three")
            for key, value in three[count].items():
                section.rows.append([f"{count:,}", 3, key, value])
            say(f"chains: calls per block with {count:,} open payments on one chain")
            alone = {"l1": nodes["l1"]}
            single[count] = (await _calls_per_block(ctx, alone, count, "one"))["l1"]
            section.rows.append([f"{count:,}", 1, "l1", single[count]])
    low, high = counts
    worst = max(max(v.values()) for v in three.values())
    section.ratios[f"calls/block per chain at {high:,} vs {low:,} open (three chains)"] = max(
        three[high].values()
    ) / max(three[low].values())
    section.ratios[f"calls/block per chain, three chains vs one chain ({high:,} open)"] = (
        max(three[high].values()) / single[high]
    )
    section.targets.append(
        Target("calls per new block per chain (worst)", worst, "<=", TARGET_CALLS_PER_BLOCK)
    )
    section.notes.append(
        "node health is on for chains: (one eth_blockNumber per url per poll); with one url "
        "per chain it reuses the poll's own head, so it adds no call"
    )
    return section


async def _latency_round(
    node: BenchChain,
    daemon: BenchDaemon,
    receiver: PostbackReceiver,
    session: aiohttp.ClientSession,
    rng: random.Random,
) -> tuple[float, float]:
    params = {"amount": "1.25", "asset": ASSETS["base"], "postback_url": receiver.url}
    body = {"jsonrpc": "2.0", "id": 1, "method": "start_payment", "params": params}
    async with session.post(daemon.rpc_url + "/", json=body) as resp:
        payment = (await resp.json())["result"]
    await node.queue_transfers([(payment["address"], 125_000_000)], await node.nonce())
    await node.mine(2)  # the transfer's block and the next: 2 confirmations
    await asyncio.sleep(rng.uniform(0, FAST_POLL))
    await node.mine(1)  # the confirming block (3 confirmations)
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
    while not (got := [r for r in receiver.received if r["json"].get("id") == payment["id"]]):
        if time.time() - mined > NOT_DETECTED:
            raise TimeoutError("no postback 30 s after the confirming block")
        await asyncio.sleep(0.01)
    return to_paid, got[0]["at"] - mined


async def latency(ctx: Context, nodes: dict[str, BenchChain]) -> Section:
    section = Section(
        "chains_latency",
        f"4e. Detection latency on a fast chain (poll interval {FAST_POLL}s, 3 confirmations,"
        " three chains watched, daemon in its own process)",
        ["round", "confirming block -> status paid (s)", "confirming block -> postback (s)"],
    )
    work = ctx.dir("chains-latency")
    db = work / "xbtcpay.db"
    raw = _config(work, db, nodes)
    raw["chains"]["base"]["poll_interval"] = FAST_POLL
    for chain in raw["chains"].values():
        chain["confirmations"] = 3
    raw["postback"]["base_delay"] = 0.2
    raw["wallet"]["first_index"] = 10 + ctx.sizes.payments + 5_000  # never paid before
    daemon = BenchDaemon(write_config(work, raw), watcher=True)
    receiver = await PostbackReceiver().start()
    rng = random.Random(11)
    paid, posted = [], []
    try:
        async with aiohttp.ClientSession() as session:
            for n in range(ctx.sizes.latency_rounds):
                say(f"chains: latency round {n + 1}")
                try:
                    a, b = await _latency_round(nodes["base"], daemon, receiver, session, rng)
                except TimeoutError as exc:
                    a = b = NOT_DETECTED
                    section.notes.append(f"round {n + 1}: {exc}")
                paid.append(a)
                posted.append(b)
                section.rows.append([n + 1, a, b])
    finally:
        daemon.stop()
        await receiver.stop()
    section.rows.append(["median", statistics.median(paid), statistics.median(posted)])
    section.rows.append(["max", max(paid), max(posted)])
    limit = FAST_POLL + LATENCY_SLACK
    section.targets.append(Target("max seconds to paid", max(paid), "<=", limit))
    section.targets.append(Target("max seconds to postback", max(posted), "<=", limit))
    section.notes.append("the confirming block is mined at a random moment of the poll cycle")
    return section


def _metric_total(daemon: BenchDaemon, method: str) -> int:
    with urllib.request.urlopen(daemon.rpc_url + "/metrics", timeout=10) as resp:
        text = resp.read().decode()
    pattern = rf'^xbtcpay_chain_rpc_calls_total\{{method="{re.escape(method)}"\}} ([\d.e+]+)$'
    match = re.search(pattern, text, re.MULTILINE)
    return int(float(match.group(1))) if match else 0


def _heads(daemon: BenchDaemon) -> dict[str, Any]:
    try:
        with urllib.request.urlopen(daemon.rpc_url + "/healthz", timeout=10) as resp:
            body: dict[str, Any] = json.loads(resp.read())
    except urllib.error.HTTPError as exc:  # 503 until every head is known: same body
        body = json.loads(exc.read())
    return {k: v["head"] for k, v in body["checks"]["chain"]["chains"].items()}


async def memory(ctx: Context, nodes: dict[str, BenchChain]) -> Section:
    per_chain = ctx.sizes.payments
    section = Section(
        "chains_memory",
        f"4f. RSS with {per_chain:,} open payments on each of three chains, watchers on",
        ["open payments per chain", "chains", "RSS MB", "peak RSS MB", "first polls s"],
    )
    work = ctx.dir("chains-memory")
    db = work / "xbtcpay.db"
    say(f"chains: seeding {3 * per_chain:,} open payments")
    seed(db, 3 * per_chain, xpub=DEV_XPUB)
    _spread(db, list(nodes))
    raw = _config(work, db, nodes)
    for chain in raw["chains"].values():
        chain["poll_interval"] = 1
        chain["reconcile_interval"] = 5  # the first one may come before blocks to read at
    started = time.perf_counter()
    daemon = BenchDaemon(write_config(work, raw), watcher=True)
    try:
        wanted = 3 * -(-per_chain // BALANCE_BATCH)  # one full reconciliation per chain
        while any(h is None for h in _heads(daemon).values()) or (
            _metric_total(daemon, "batch:eth_call") < wanted
        ):
            if time.perf_counter() - started > 1200:
                section.notes.append("the first polls did not finish in 20 minutes")
                break
            for node in nodes.values():  # blocks to confirm at: reconciliation reads there
                await node.mine(1)
            await asyncio.sleep(0.5)
        first = time.perf_counter() - started
        await asyncio.sleep(2)  # the surplus checks and the next polls
        mem = proc_memory(daemon.pid)
    finally:
        daemon.stop()
    rss, peak = mem["VmRSS"] / 1024, mem["VmHWM"] / 1024
    section.rows.append([f"{per_chain:,}", 3, rss, peak, first])
    section.targets.append(Target("RSS MB (peak)", peak, "<=", TARGET_RSS_MB))
    section.notes.append(
        "measured after every watcher's first poll: the address book holds every issued "
        "address once (one derivation counter for all chains), each chain's reconciliation "
        "read every open payment's balance on its chain"
    )
    return section


def main(ctx: Context) -> list[Section]:
    return asyncio.run(_all(ctx))


async def _all(ctx: Context) -> list[Section]:
    cost = await run(ctx)
    if cost.pending:
        return [cost]
    async with AsyncExitStack() as stack:
        nodes = {
            key: await stack.enter_async_context(dev_chain(args=["--chain-id", str(chain_id)]))
            for key, chain_id in CHAINS.items()
        }
        return [cost, await latency(ctx, nodes), await memory(ctx, nodes)]

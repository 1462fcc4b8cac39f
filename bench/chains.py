"""Benchmark 4d: the watchers of three chains at once: RPC cost per block per chain.

The seeded open payments are spread over three chains (a third each, by row), one daemon
watches three anvils (chain ids 31337, 8453, 42161), and every chain gets one new block per
round, half of them carrying a transfer to an open payment of that chain; each chain's
watcher polls once per round and its own client counts every HTTP request. The same rounds
run against one chain holding every payment: the single-chain figure the three-chain one is
compared with, in the same run.
"""

from __future__ import annotations

import asyncio
import random
import sqlite3
import statistics
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

from bench.chainkit import BenchChain, anvil_available, dev_chain
from bench.context import Context, say
from bench.report import Section, Target
from bench.seed import keep_first
from tests.harness import base_config, write_config
from xbtcpay.app.config import parse_config
from xbtcpay.app.daemon import Daemon
from xbtcpay.chain.watcher import Watcher

CHAINS = {"l1": 31337, "base": 8453, "arb": 42161}
ASSETS = {"l1": "0xbtc", "base": "xbtc_base", "arb": "xbtc_arb"}
TARGET_CALLS_PER_BLOCK = 3.0


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


def main(ctx: Context) -> Section:
    return asyncio.run(run(ctx))

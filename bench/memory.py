"""Benchmark 3: resident memory of the daemon holding many open payments.

Measured from /proc/<pid>/status (VmRSS now, VmHWM peak) after the daemon started on the
seeded database and served status.json requests for random payments: first without the chain
watcher, then (when anvil is installed) with it, after its first poll has loaded every issued
deposit address into memory and reconciled the balances of all open payments.
"""

from __future__ import annotations

import asyncio
import random
import re
import time
import urllib.request
from typing import Any

import aiohttp

from bench.chainkit import anvil_available, dev_chain
from bench.context import Context, say
from bench.procs import BenchDaemon, proc_memory
from bench.report import Section, Target
from bench.seed import open_payments
from xbtcpay.chain.reconcile import BATCH_SIZE

TARGET_MB = 200.0


async def serve_status(public_url: str, ids: list[str], count: int, concurrency: int = 16) -> int:
    """GET ``count`` random status.json documents; return how many answered 200."""
    rng = random.Random(3)
    ok = 0

    async def worker(session: aiohttp.ClientSession, n: int) -> None:
        nonlocal ok
        for _ in range(n):
            async with session.get(f"{public_url}/{rng.choice(ids)}/status.json") as resp:
                await resp.read()
                ok += resp.status == 200

    async with aiohttp.ClientSession() as session:
        share = max(1, count // concurrency)
        await asyncio.gather(*(worker(session, share) for _ in range(concurrency)))
    return ok


async def _wait_first_poll(daemon: BenchDaemon, timeout: float = 600.0) -> float:
    started = time.perf_counter()
    while daemon.stats()["chain_head"] is None:
        if time.perf_counter() - started > timeout:
            raise TimeoutError("the watcher did not finish its first poll")
        await asyncio.sleep(0.1)
    return time.perf_counter() - started


def _balance_batches(daemon: BenchDaemon) -> int:
    """Batch requests of balanceOf calls the watcher made (from the daemon's /metrics)."""
    with urllib.request.urlopen(daemon.rpc_url + "/metrics", timeout=10) as resp:
        text = resp.read().decode()
    match = re.search(
        r'^xbtcpay_chain_rpc_calls_total\{method="batch:eth_call"\} ([\d.e+]+)$', text, re.MULTILINE
    )
    return int(float(match.group(1))) if match else 0


async def _wait_reconciled(daemon: BenchDaemon, open_count: int, timeout: float = 120.0) -> int:
    """Wait until one full reconciliation of every open payment's balance went out."""
    wanted = -(-open_count // BATCH_SIZE)
    started = time.perf_counter()
    while (batches := _balance_batches(daemon)) < wanted:
        if time.perf_counter() - started > timeout:
            return batches  # reported as it is: the note shows how many batches went out
        await asyncio.sleep(0.2)
    await asyncio.sleep(1.0)  # let the surplus check and the next poll finish
    return batches


async def _measure(
    ctx: Context, daemon: BenchDaemon, ids: list[str], label: str, section: Section, extra: str = ""
) -> float:
    after_start = proc_memory(daemon.pid)
    served = await serve_status(daemon.public_url, ids, ctx.sizes.status_requests_for_memory)
    mem = proc_memory(daemon.pid)
    rss_mb = mem["VmRSS"] / 1024
    section.rows.append(
        [label, after_start["VmRSS"] / 1024, served, rss_mb, mem["VmHWM"] / 1024, extra or None]
    )
    return rss_mb


async def run(ctx: Context) -> Section:
    """Measure the daemon without, then with, the chain watcher."""
    s = ctx.sizes
    section = Section(
        "memory",
        f"3. Memory with {s.payments:,} open payments",
        [
            "daemon",
            "RSS after start MB",
            "status requests served",
            "RSS after requests MB",
            "peak RSS MB",
            "note",
        ],
    )
    work = ctx.dir("memory")
    db = ctx.copy_seeded(work)
    ids = [pid for pid, _ in open_payments(db)]
    worst = 0.0
    daemon = BenchDaemon(ctx.daemon_config(work, db))
    try:
        say("memory: daemon without watcher")
        worst = await _measure(ctx, daemon, ids, "watcher off", section)
    finally:
        daemon.stop()
    if anvil_available():
        async with dev_chain() as chain:
            await chain.mine(10)  # a confirmed, scanned block to reconcile balances at
            chain_cfg: dict[str, Any] = {
                "chain": {
                    "rpc_urls": [chain.url],
                    "start_block": "latest",
                    "poll_interval": 0.5,
                    "reconcile_interval": 1,
                },
                "assets": {"0xbtc": {"contract": chain.token}},
            }
            daemon = BenchDaemon(ctx.daemon_config(work, db, chain_cfg), watcher=True)
            try:
                say("memory: daemon with watcher (first poll loads and reconciles everything)")
                first = await _wait_first_poll(daemon)
                batches = await _wait_reconciled(daemon, len(ids))
                worst = max(
                    worst,
                    await _measure(
                        ctx,
                        daemon,
                        ids,
                        "watcher on (anvil)",
                        section,
                        f"first poll (address book) {first:.1f}s; {batches} balanceOf batch "
                        f"requests of {BATCH_SIZE} (all open payments reconciled)",
                    ),
                )
            finally:
                daemon.stop()
    else:
        section.notes.append("anvil not installed (npm install): watcher-on row skipped")
    section.targets.append(Target("RSS MB (worst row)", worst, "<=", TARGET_MB))
    return section


def main(ctx: Context) -> Section:
    return asyncio.run(run(ctx))

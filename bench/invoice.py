"""Benchmark: start_payment priced in fiat vs start_payment of a crypto amount, same run.

An invoice quotes every offered asset at the current rate before the payment is created;
with the rates cached (here a configured rate: no source I/O, the state a warm rate book is
in between refreshes) the quote must cost little next to the durable insert both share. The
two kinds of call alternate on one daemon per engine (SQLite, then a PostgreSQL server of
its own), at the highest concurrency of ``start``; the ratio is of the best rounds.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from bench.context import Context, say
from bench.procs import BenchDaemon, loadgen
from bench.report import Section, Target
from tests.harness import free_port
from xbtcpay.storage.engines import open_engine
from xbtcpay.storage.pg_server import PgServer

TARGET_RATIO = 0.8
ROUNDS = 3
PRICING = {
    "pricing": {"lock": 900, "tolerance": "0.5", "on_expiry": "requote"},
    "rates": {"refresh": 30, "sources": {"peg": {"type": "fixed", "rates": {"0xbtc/USD": "0.5"}}}},
}


async def _measure(
    ctx: Context, section: Section, engine: str, config: Path
) -> tuple[float, float]:
    """Best payments/s of (amount, price) over alternating rounds on one daemon."""
    s = ctx.sizes
    clients = max(s.start_concurrency)
    daemon = BenchDaemon(config)
    best = {"start": 0.0, "invoice": 0.0}
    try:
        for n in range(ROUNDS):
            for mode in ("start", "invoice"):
                say(f"invoice: {engine}, {mode} round {n + 1}, {clients} clients")
                r = await loadgen(
                    mode, daemon.rpc_url, concurrency=clients, duration=s.duration, warmup=s.warmup
                )
                best[mode] = max(best[mode], float(r["rps"]))
                label = "amount (crypto)" if mode == "start" else "price (USD, quoted)"
                section.rows.append(
                    [engine, label, n + 1, clients, r["rps"], r["p50_ms"], r["p99_ms"]]
                )
                failed = int(r["total_including_warmup"]) - int(r["ok"])
                if failed:
                    section.notes.append(f"{failed} failed {mode} calls on {engine}")
    finally:
        daemon.stop()
    return best["start"], best["invoice"]


async def run(ctx: Context) -> Section:
    section = Section(
        "invoice",
        "start_payment priced in fiat vs a crypto amount (rates cached)",
        [
            "engine",
            "start_payment with",
            "round",
            "concurrent clients",
            "payments/s",
            "p50 ms",
            "p99 ms",
        ],
    )
    work = ctx.dir("invoice")
    sqlite_dir = work / "sqlite"
    sqlite_dir.mkdir(parents=True, exist_ok=True)
    config = ctx.daemon_config(sqlite_dir, sqlite_dir / "xbtcpay.db", PRICING)
    amount, price = await _measure(ctx, section, "SQLite", config)
    _judge(section, "SQLite", amount, price)
    with PgServer(free_port()) as server:
        url = server.create_database("invoice")
        engine = await open_engine(url)  # migrated before the daemon starts
        await engine.close()
        pg_dir = work / "postgresql"
        pg_dir.mkdir(parents=True, exist_ok=True)
        extra: dict[str, Any] = {**PRICING, "database": url}
        config = ctx.daemon_config(pg_dir, pg_dir / "unused.db", extra)
        amount, price = await _measure(ctx, section, "PostgreSQL", config)
        _judge(section, "PostgreSQL", amount, price)
    section.notes.append(
        "each invoice quotes its one configured asset from the rate book's cache and stores "
        "the quote (rate, sources, times) in the payment row's extra"
    )
    return section


def _judge(section: Section, engine: str, amount: float, price: float) -> None:
    ratio = price / amount if amount else 0.0
    section.ratios[f"{engine}: price / amount"] = ratio
    section.targets.append(Target(f"{engine}: price / amount", ratio, ">=", TARGET_RATIO))


def main(ctx: Context) -> Section:
    return asyncio.run(run(ctx))

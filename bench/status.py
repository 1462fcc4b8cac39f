"""Benchmark 1: status.json requests/s with many stored payments vs a bare aiohttp handler."""

from __future__ import annotations

import asyncio
import sqlite3
import urllib.request
from pathlib import Path
from typing import Any

from bench.context import Context, say
from bench.procs import BareServer, BenchDaemon, loadgen, wrk, wrk_available
from bench.report import Section, Target
from tests.harness import free_port

# Random ids over every stored payment, default config: almost every request is a cache miss
# and so one SQLite point read; the limit is a bare handler doing that same read.
POINT_READ_TARGET_RATIO = 0.8
HOT_TARGET_RATIO = 0.9  # a hot set: the most recently created payments, polled
HOT_SET = 2_000


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as resp:
        assert resp.status == 200, resp.status
        body: bytes = resp.read()
    return body


def _ids(db: Path, out: Path) -> int:
    conn = sqlite3.connect(db)
    try:
        ids = [r[0] for r in conn.execute("SELECT id FROM payments")]
    finally:
        conn.close()
    out.write_text("\n".join(ids) + "\n")
    return len(ids)


def _hot_ids(db: Path, out: Path, size: int) -> int:
    """The ``size`` most recently created payments: the ones checkout pages are polling."""
    conn = sqlite3.connect(db)
    try:
        ids = [
            r[0]
            for r in conn.execute(
                "SELECT id FROM payments ORDER BY created_at DESC LIMIT ?", (size,)
            )
        ]
    finally:
        conn.close()
    out.write_text("\n".join(ids) + "\n")
    return len(ids)


def _failures(r: dict[str, Any]) -> int:
    """Non-200 answers plus transport errors of one load run."""
    if "non_2xx" in r:
        return int(r["non_2xx"]) + int(r["errors"])
    return int(r["total_including_warmup"]) - int(r["ok"])


async def _measure(ctx: Context, tool: str, base: str, ids: Path) -> dict[str, Any]:
    s = ctx.sizes
    if tool == "wrk":
        return await wrk(base, ids, concurrency=s.connections, duration=s.duration)
    return await loadgen(
        "status",
        base,
        concurrency=s.connections,
        duration=s.duration,
        warmup=s.warmup,
        ids_file=ids,
    )


LADDER = (
    ("sqlite", "bare + SQLite primary-key lookup"),
    ("domain", "+ row_to_payment + status_document (daemon code, no middlewares)"),
)


async def _ladder(
    ctx: Context,
    section: Section,
    tool: str,
    work: Path,
    db: Path,
    ids: Path,
    bare: dict[str, Any],
    daemon: dict[str, Any],
) -> dict[str, float]:
    """Add the daemon's layers one by one to the bare handler: where the time goes.
    Returns requests/s per ladder mode."""
    per_request = {"bare aiohttp (constant body)": 1e6 / bare["rps"]}
    rps: dict[str, float] = {}
    for mode, label in LADDER:
        say(f"status: ladder {mode} ({tool})")
        server = BareServer(
            free_port(), work / "body.json", work, (mode, str(db), str(work / "config.yaml"))
        )
        try:
            r = await _measure(ctx, tool, server.url, ids)
        finally:
            server.stop()
        section.rows.append(
            [label, tool, ctx.sizes.connections, r["rps"], r["p50_ms"], r["p99_ms"], _failures(r)]
        )
        per_request[label] = 1e6 / r["rps"]
        rps[mode] = r["rps"]
    per_request["full daemon (+ middlewares, routing, runtime)"] = 1e6 / daemon["rps"]
    steps, previous = [], 0.0
    for label, micros in per_request.items():
        steps.append(f"{label}: {micros:.0f} us (+{micros - previous:.0f})")
        previous = micros
    section.notes.append(f"CPU time per request, from requests/s ({tool}): " + "; ".join(steps))
    return rps


async def run(ctx: Context) -> Section:
    """Start the daemon on the seeded database and the bare handler; load both, same way."""
    s = ctx.sizes
    section = Section(
        "status",
        f"1. status.json throughput, {s.payments:,} payments stored",
        [
            "server",
            "load generator",
            "connections",
            "requests/s",
            "p50 ms",
            "p99 ms",
            "non-200 + errors",
        ],
    )
    work = ctx.dir("status")
    db = ctx.copy_seeded(work)
    ids = work / "ids.txt"
    count = _ids(db, ids)
    daemon = BenchDaemon(ctx.daemon_config(work, db))
    bare: BareServer | None = None
    try:
        first = ids.read_text().split()[0]
        body = _get(f"{daemon.public_url}/{first}/status.json")
        (work / "body.json").write_bytes(body)
        bare = BareServer(free_port(), work / "body.json", work)
        assert len(_get(f"{bare.url}/{first}/status.json")) == len(body)
        section.notes.append(
            f"{count:,} payments in the database; status.json body "
            f"{len(body)} bytes, the bare handler answers the same bytes"
        )
        tools = ["python"] + (["wrk"] if ctx.use_wrk and wrk_available() else [])
        results: dict[tuple[str, str], dict[str, Any]] = {}
        for tool in tools:
            for name, base in (("bare aiohttp", bare.url), ("xbtcpay daemon", daemon.public_url)):
                say(f"status: {tool} -> {name}")
                r = await _measure(ctx, tool, base, ids)
                results[(tool, name)] = r
                section.rows.append(
                    [name, tool, s.connections, r["rps"], r["p50_ms"], r["p99_ms"], _failures(r)]
                )
        hot = work / "hot-ids.txt"
        hot_count = _hot_ids(db, hot, min(HOT_SET, count))
        for tool in tools:
            for name, base in (("bare aiohttp", bare.url), ("xbtcpay daemon", daemon.public_url)):
                say(f"status: {tool} -> {name} (hot set)")
                r = await _measure(ctx, tool, base, hot)
                results[(tool, f"{name} hot")] = r
                section.rows.append(
                    [
                        f"{name}, hot set of {hot_count:,}",
                        tool,
                        s.connections,
                        r["rps"],
                        r["p50_ms"],
                        r["p99_ms"],
                        _failures(r),
                    ]
                )
        for tool in tools:
            section.ratios[f"daemon/bare ({tool})"] = (
                results[(tool, "xbtcpay daemon")]["rps"] / results[(tool, "bare aiohttp")]["rps"]
            )
            section.ratios[f"daemon/bare hot set ({tool})"] = (
                results[(tool, "xbtcpay daemon hot")]["rps"]
                / results[(tool, "bare aiohttp hot")]["rps"]
            )
        judge = "wrk" if "wrk" in tools else "python"
        section.targets.append(
            Target(
                f"daemon/bare requests/s, hot set ({judge})",
                section.ratios[f"daemon/bare hot set ({judge})"],
                ">=",
                HOT_TARGET_RATIO,
            )
        )
        ladder = await _ladder(
            ctx,
            section,
            judge,
            work,
            db,
            ids,
            results[(judge, "bare aiohttp")],
            results[(judge, "xbtcpay daemon")],
        )
        point_read = results[(judge, "xbtcpay daemon")]["rps"] / ladder["sqlite"]
        section.ratios[f"daemon/bare + SQLite point read, random ids ({judge})"] = point_read
        section.targets.append(
            Target(
                f"daemon/bare + SQLite point read, random ids ({judge})",
                point_read,
                ">=",
                POINT_READ_TARGET_RATIO,
            )
        )
        if "wrk" not in tools:
            section.notes.append(
                "wrk not installed (apt-get install wrk): the pure-Python "
                "load generator may be the bottleneck for both servers"
            )
    finally:
        if bare is not None:
            bare.stop()
        daemon.stop()
    return section


def main(ctx: Context) -> Section:
    return asyncio.run(run(ctx))

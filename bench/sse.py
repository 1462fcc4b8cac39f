"""Benchmark 5: the checkout page's live feed, many SSE subscribers on one process.

``subscribers`` streams (``GET /pay/<id>/events``, one connection each) watch one payment;
the payment is then canceled over JSON-RPC and every stream's delay from that call to its
event is measured. Memory per connection is the daemon's RSS with the streams open minus
its RSS before, divided by their number. The baseline is ``bench.sse_bare``: a bare
aiohttp process that holds the same streams and writes a constant event to all of them.
"""

from __future__ import annotations

import asyncio
import sys
import time
import urllib.request
from typing import Any

import aiohttp

from bench.context import Context, say
from bench.loadgen import percentile
from bench.procs import BenchDaemon, Child, _wait_port, proc_memory
from bench.report import Section, Target
from tests.harness import free_port

TARGET_SECONDS = 1.0


async def _subscribe(
    session: aiohttp.ClientSession, url: str, ready: asyncio.Event, opened: list[int], wanted: int
) -> float:
    """Open a stream, wait for its first event, then return when the next one arrived."""
    async with session.get(url, timeout=aiohttp.ClientTimeout(total=None)) as resp:
        events = 0
        async for line in resp.content:
            if not line.startswith(b"data: "):
                continue
            events += 1
            if events == 1:
                opened[0] += 1
                if opened[0] == wanted:
                    ready.set()
            else:
                return time.perf_counter()
    raise RuntimeError("stream ended before the change")


async def fan_out(url: str, count: int, fire: Any, pid: int) -> dict[str, Any]:
    """``count`` streams on ``url``; ``fire()`` makes the change. Delays and memory."""
    ready, opened = asyncio.Event(), [0]
    before = proc_memory(pid)["VmRSS"]
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        tasks = [
            asyncio.create_task(_subscribe(session, url, ready, opened, count))
            for _ in range(count)
        ]
        await asyncio.wait_for(ready.wait(), timeout=120)
        await asyncio.sleep(0.5)
        held = proc_memory(pid)["VmRSS"]
        started = time.perf_counter()
        await fire()
        arrived = await asyncio.wait_for(asyncio.gather(*tasks), timeout=60)
    delays = sorted(t - started for t in arrived)
    return {
        "p50": percentile(delays, 0.5),
        "p99": percentile(delays, 0.99),
        "max": delays[-1],
        "seen": len(delays),
        "kb_per_connection": (held - before) / count,
    }


def _rpc(base: str, method: str, params: dict[str, Any]) -> dict[str, Any]:
    import json

    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).encode()
    request = urllib.request.Request(
        base + "/", data=body, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as resp:
        reply: dict[str, Any] = json.loads(resp.read())
    return reply["result"]  # type: ignore[no-any-return]


async def _daemon_run(ctx: Context, count: int) -> dict[str, Any]:
    directory = ctx.dir("sse")
    config = ctx.daemon_config(directory, directory / "xbtcpay.db")
    daemon = BenchDaemon(config)
    try:
        pid = _rpc(daemon.rpc_url, "start_payment", {"amount": "1.5"})["id"]

        async def fire() -> None:
            await asyncio.to_thread(_rpc, daemon.rpc_url, "cancel_payment", {"id": pid})

        return await fan_out(f"{daemon.public_url}/pay/{pid}/events", count, fire, daemon.pid)
    finally:
        daemon.stop()


async def _bare_run(ctx: Context, count: int) -> dict[str, Any]:
    directory = ctx.dir("sse-bare")
    port = free_port()
    bare = Child([sys.executable, "-m", "bench.sse_bare", str(port)], directory / "bare.log")
    try:
        _wait_port(port)
        base = f"http://127.0.0.1:{port}"

        async def fire() -> None:
            async with aiohttp.ClientSession() as session, session.post(base + "/fire") as resp:
                await resp.read()

        return await fan_out(base + "/events", count, fire, bare.pid)
    finally:
        bare.stop()


def main(ctx: Context) -> list[Section]:
    """The fan-out to many streams, then the browser page's delay (``bench.sse_page``)."""
    from bench import sse_page

    return [fan_out_section(ctx), sse_page.main(ctx)]


def fan_out_section(ctx: Context) -> Section:
    count = ctx.sizes.sse_subscribers
    section = Section(
        "sse",
        f"5. Checkout live feed: {count:,} SSE subscribers, one process",
        [
            "server",
            "subscribers",
            "saw the change",
            "p50 ms",
            "p99 ms",
            "max ms",
            "kB per connection",
        ],
    )
    results = {}
    for label, run in (
        ("bare aiohttp (constant event)", _bare_run),
        ("xbtcpay daemon (/pay/<id>/events)", _daemon_run),
    ):
        say(f"sse: {label}, {count} subscribers")
        r = asyncio.run(run(ctx, count))
        results[label] = r
        section.rows.append(
            [
                label,
                count,
                r["seen"],
                r["p50"] * 1000,
                r["p99"] * 1000,
                r["max"] * 1000,
                r["kb_per_connection"],
            ]
        )
    bare, daemon = results.values()
    section.ratios["max delay daemon/bare"] = daemon["max"] / max(bare["max"], 1e-6)
    section.ratios["kB per connection daemon/bare"] = max(daemon["kb_per_connection"], 0.01) / max(
        bare["kb_per_connection"], 0.01
    )
    section.targets.append(
        Target("every subscriber sees the change within (s)", daemon["max"], "<=", TARGET_SECONDS)
    )
    section.notes.append(
        "the change is a cancel_payment over JSON-RPC; the delay runs from "
        "that call to each stream's event, so it includes the commit"
    )
    return section

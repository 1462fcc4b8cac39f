"""Benchmark 5b: from status.json showing a change to the checkout page showing it.

The real daemon in a subprocess, Debian's headless Chromium on ``/pay/<id>``, and beside it a
plain SSE client on the same payment's stream. Each round cancels a fresh payment over
JSON-RPC; once the call returned, status.json already shows ``canceled``. Measured: the
delay to the page's status line changing (a MutationObserver in the page stamps it) and,
as the baseline, to the plain client's event. The ratio is page / plain stream.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import aiohttp

from bench.context import Context, say
from bench.loadgen import percentile
from bench.procs import BenchDaemon
from bench.report import Section, Target
from bench.sse import _rpc

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
TARGET_SECONDS = 1.0
STAMP = """() => new Promise((resolve) => {
  new MutationObserver(() => {
    const s = document.getElementById("status");
    if (s && s.textContent.includes("canceled")) { resolve(performance.timeOrigin + performance.now()); }
  }).observe(document.getElementById("checkout"), {subtree: true, childList: true, characterData: true});
})"""


async def _plain_event(url: str, opened: asyncio.Event) -> float:
    async with aiohttp.ClientSession() as session, session.get(url) as resp:
        events = 0
        async for line in resp.content:
            if line.startswith(b"data: "):
                events += 1
                if events == 1:
                    opened.set()
                else:
                    return time.time()
    raise RuntimeError("stream ended")


async def _round(browser: Any, daemon: BenchDaemon) -> tuple[float, float]:
    pid = _rpc(daemon.rpc_url, "start_payment", {"amount": "1"})["id"]
    page = await browser.new_page()
    try:
        await page.goto(f"{daemon.public_url}/pay/{pid}")
        await page.wait_for_selector('#checkout[data-transport="sse"]')
        opened = asyncio.Event()
        plain = asyncio.create_task(_plain_event(f"{daemon.public_url}/pay/{pid}/events", opened))
        await opened.wait()
        await asyncio.sleep(0.3)  # the page's own stream is open well before this
        stamped = asyncio.create_task(page.evaluate(STAMP))
        await asyncio.sleep(0.05)
        await asyncio.to_thread(_rpc, daemon.rpc_url, "cancel_payment", {"id": pid})
        shown = time.time()  # status.json shows canceled from here on
        page_ms = (await asyncio.wait_for(stamped, 10)) / 1000 - shown
        return max(page_ms, 0.0), max(await asyncio.wait_for(plain, 10) - shown, 0.0)
    finally:
        await page.close()


async def _run(ctx: Context, rounds: int) -> list[tuple[float, float]]:
    from playwright.async_api import async_playwright

    directory = ctx.dir("sse-page")
    daemon = BenchDaemon(ctx.daemon_config(directory, directory / "xbtcpay.db"))
    try:
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
            try:
                return [await _round(browser, daemon) for _ in range(rounds)]
            finally:
                await browser.close()
    finally:
        daemon.stop()


def main(ctx: Context) -> Section:
    rounds = max(3, ctx.sizes.latency_rounds)
    section = Section(
        "sse_page",
        "5b. Checkout page: status.json shows a change -> the page shows it",
        ["measured", "rounds", "p50 ms", "max ms"],
    )
    if not CHROMIUM.exists():
        section.pending = f"{CHROMIUM} missing: run `make browser`"
        return section
    say(f"sse page: {rounds} rounds in headless Chromium")
    results = asyncio.run(_run(ctx, rounds))
    page = sorted(r[0] for r in results)
    plain = sorted(r[1] for r in results)
    for label, values in (("plain SSE client (baseline)", plain), ("checkout page", page)):
        section.rows.append(
            [label, rounds, (percentile(values, 0.5) or 0) * 1000, values[-1] * 1000]
        )
    section.ratios["page/plain stream (max)"] = page[-1] / max(plain[-1], 1e-4)
    section.targets.append(
        Target("page shows the change after status.json within (s)", page[-1], "<=", TARGET_SECONDS)
    )
    section.notes.append(
        "the page fetches its new view after the event; the delay includes "
        "that request and the DOM swap"
    )
    return section

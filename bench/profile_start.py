"""``python -m bench.profile_start``: the daemon's CPU per start_payment, and where it goes.

The real daemon (``bench.daemon_main``: SQLite file, WAL, ``synchronous=FULL``, group commit)
runs in its own process; this process drives a fixed number of ``start_payment`` calls over
loopback HTTP from ``--clients`` concurrent clients and reads the daemon's CPU time from
``/proc/<pid>/task/<tid>/schedstat`` (nanoseconds on a CPU, per thread) before and after each
round. CPU time does not count the time the daemon waits for a core, so other load on a
shared machine moves this figure far less than it moves payments/s. The event loop's thread
(the daemon's main thread) is reported apart from the rest (the database writer thread and
executors).

``--cprofile DIR`` runs the daemon under cProfile (its main thread; the profiler's overhead
inflates every figure, so read it for shares, not for totals) and prints the top functions.
``--py-spy FILE`` samples every thread of the daemon with py-spy (if installed) during the
rounds and writes collapsed stacks (``--format raw``) to FILE: a view without the profiler's
overhead, the writer thread included. ``--repo DIR`` runs another checkout's daemon (e.g. an export of the previous commit), so the
code before and after a change can be measured round for round in one run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import pstats
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from bench.context import Context, say
from bench.procs import BenchDaemon


def thread_cpu_ns(pid: int) -> dict[int, int]:
    """Nanoseconds each thread of ``pid`` has run on a CPU (``schedstat``'s first field)."""
    out: dict[int, int] = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat", encoding="ascii") as stat:
                out[int(tid)] = int(stat.read().split()[0])
        except FileNotFoundError:  # a thread that ended between listdir and open
            continue
    return out


@dataclass(frozen=True)
class Round:
    """One round's CPU per call (microseconds): the event loop's thread and all threads."""

    label: str
    calls: int
    loop_us: float
    total_us: float
    seconds: float


def cpu_delta(pid: int, before: dict[int, int], after: dict[int, int]) -> tuple[int, int]:
    """(main thread, all threads) CPU nanoseconds between two readings."""
    total = sum(ns - before.get(tid, 0) for tid, ns in after.items())
    return after.get(pid, 0) - before.get(pid, 0), total


async def drive(
    url: str, calls: int, clients: int, seed: int, method: str = "start_payment"
) -> int:
    """``calls`` start_payment calls shared by ``clients`` workers; how many succeeded.

    Another ``method`` (one the daemon does not have, say) measures the transport alone:
    the same HTTP, middlewares and JSON-RPC envelope, answered with an error."""
    left = calls
    ok = 0
    connector = aiohttp.TCPConnector(limit=clients)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def worker(rng: random.Random) -> None:
            nonlocal left, ok
            while left > 0:
                left -= 1
                amount = f"{rng.randint(1, 99999)}.{rng.randint(0, 99999999):08d}"
                body = {
                    "jsonrpc": "2.0",
                    "id": 1,
                    "method": method,
                    "params": {"amount": amount, "data": {"bench": True}},
                }
                async with session.post(url + "/", json=body) as resp:
                    reply = await resp.json()
                    ok += "result" in reply or method != "start_payment"

        await asyncio.gather(*(worker(random.Random(seed * 1000 + n)) for n in range(clients)))
    return ok


async def measure(
    daemon: BenchDaemon, label: str, calls: int, clients: int, seed: int, method: str
) -> Round:
    """One round against a running daemon."""
    pid = daemon.pid
    before = thread_cpu_ns(pid)
    started = time.perf_counter()
    ok = await drive(daemon.rpc_url, calls, clients, seed, method)
    seconds = time.perf_counter() - started
    after = thread_cpu_ns(pid)
    loop_ns, total_ns = cpu_delta(pid, before, after)
    busiest = sorted(
        (ns - before.get(tid, 0) for tid, ns in after.items() if tid != pid), reverse=True
    )
    say(
        "other threads, us per call: " + ", ".join(f"{ns / calls / 1000:.0f}" for ns in busiest[:4])
    )
    if ok != calls:
        raise RuntimeError(f"{calls - ok} of {calls} calls failed")
    return Round(label, calls, loop_ns / calls / 1000, total_ns / calls / 1000, seconds)


def start_daemon(ctx: Context, name: str, repo: Path | None) -> BenchDaemon:
    """A daemon on a fresh SQLite file, from this checkout or ``repo``."""
    work = ctx.dir(name)
    config = ctx.daemon_config(work, work / "xbtcpay.db")
    return BenchDaemon(config) if repo is None else BenchDaemon(config, repo=repo.resolve())


def print_profile(directory: Path, limit: int) -> None:
    """The top functions of the daemon's cProfile by own time and by cumulative time."""
    files = sorted(directory.glob("daemon-*.prof"))
    if not files:
        say("no profile written")
        return
    stats = pstats.Stats(*(str(f) for f in files), stream=sys.stdout)
    stats.strip_dirs().sort_stats("tottime").print_stats(limit)
    stats.sort_stats("cumulative").print_stats(limit)


async def run(args: argparse.Namespace) -> list[Round]:
    """Warm each daemon up, then alternate rounds between them; every round's figures."""
    ctx = Context(Path(tempfile.mkdtemp(prefix="xbtcpay-profile-", dir=args.workdir)))
    if args.cprofile:
        os.environ["XBTCPAY_BENCH_PROFILE"] = str(Path(args.cprofile).resolve())
    daemons: dict[str, BenchDaemon] = {"this": start_daemon(ctx, "this", None)}
    if args.repo:
        daemons["repo"] = start_daemon(ctx, "repo", Path(args.repo))
    rounds: list[Round] = []
    try:
        for label, daemon in daemons.items():
            await drive(daemon.rpc_url, args.warmup, args.clients, 0)
            say(f"{label}: warmed up with {args.warmup} calls")
        spy = spy_on(daemons["this"].pid, args.py_spy) if args.py_spy else None
        for n in range(args.rounds):
            for label, daemon in daemons.items():
                r = await measure(daemon, label, args.calls, args.clients, n + 1, args.method)
                say(
                    f"{label} round {n + 1}: {r.loop_us:.0f} us loop thread, "
                    f"{r.total_us:.0f} us all threads per call, {r.calls / r.seconds:.0f} calls/s"
                )
                rounds.append(r)
        if spy is not None:
            spy.send_signal(signal.SIGINT)
            spy.wait(60)
    finally:
        for daemon in daemons.values():
            daemon.stop()
    return rounds


def spy_on(pid: int, out: str) -> subprocess.Popen[bytes]:
    """py-spy sampling ``pid``'s threads (native frames off) until it gets SIGINT."""
    exe = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    spy = subprocess.Popen(
        [
            exe,
            "record",
            "--pid",
            str(pid),
            "--threads",
            "--gil",
            "--format",
            "raw",
            "-o",
            out,
            "-r",
            "500",
        ],
        stdout=subprocess.DEVNULL,
    )
    time.sleep(1.0)  # py-spy attaches before the first round
    return spy


def summary(rounds: list[Round]) -> dict[str, Any]:
    """Best (lowest) loop-thread and all-thread CPU per call of each daemon."""
    out: dict[str, Any] = {}
    for label in dict.fromkeys(r.label for r in rounds):
        mine = [r for r in rounds if r.label == label]
        out[label] = {
            "best_loop_us": round(min(r.loop_us for r in mine), 1),
            "best_total_us": round(min(r.total_us for r in mine), 1),
            "rounds_loop_us": [round(r.loop_us, 1) for r in mine],
            "rounds_total_us": [round(r.total_us, 1) for r in mine],
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.profile_start")
    parser.add_argument("--calls", type=int, default=3000, help="calls per round")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=500, help="calls before the first round")
    parser.add_argument("--repo", help="also run this checkout's daemon, rounds interleaved")
    parser.add_argument("--cprofile", help="write the daemon's cProfile to this directory")
    parser.add_argument(
        "--method", default="start_payment", help="another name measures the transport alone"
    )
    parser.add_argument("--py-spy", help="write py-spy's collapsed stacks of the rounds here")
    parser.add_argument("--top", type=int, default=45, help="functions printed per profile view")
    parser.add_argument("--workdir", default=None, help="parent of the temporary directory")
    args = parser.parse_args()
    rounds = asyncio.run(run(args))
    json.dump(summary(rounds), sys.stdout, indent=1)
    sys.stdout.write("\n")
    if args.cprofile:
        print_profile(Path(args.cprofile), args.top)


if __name__ == "__main__":
    main()

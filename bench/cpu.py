"""Where a run's CPU went: cores used by the daemon(s), PostgreSQL, the load generators and
nothing (idle), sampled from /proc between two moments of a measurement window.

A benchmark bound by the machine rather than by a lock shows about no idle time; one that
waits (fsyncs, a row lock) shows idle cores. Linux only (it reads /proc).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Mapping
from pathlib import Path

_TICK = os.sysconf("SC_CLK_TCK")


def _ticks(pid: str) -> tuple[str, int] | None:
    """(command line, user + system clock ticks) of a live process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()
    return cmdline, int(fields[11]) + int(fields[12])


def _idle() -> int:
    with open("/proc/stat", encoding="ascii") as stat:
        cpu = stat.readline().split()[1:]
    return int(cpu[3]) + int(cpu[4])  # idle + iowait, all cores


def _group(pid: str, cmdline: str, daemons: Mapping[int, str]) -> str:
    if int(pid) in daemons:
        return daemons[int(pid)]
    program = cmdline.split(" ", 1)[0]
    if program.startswith("postgres") or program.endswith("/postgres"):
        return "PostgreSQL"
    if "bench.loadgen" in cmdline:
        return "load generators"
    return "other"


def _sample(daemons: Mapping[int, str]) -> tuple[float, int, dict[str, int]]:
    groups: dict[str, int] = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        got = _ticks(pid)
        if got is None:
            continue
        key = f"{pid}:{_group(pid, got[0], daemons)}"
        groups[key] = got[1]
    return time.monotonic(), _idle(), groups


async def split(daemons: Mapping[int, str], start_after: float, length: float) -> dict[str, float]:
    """Cores used by each group over ``length`` seconds from ``start_after`` seconds on
    (processes alive at both ends; ``idle`` from the whole machine)."""
    await asyncio.sleep(start_after)
    t0, idle0, first = _sample(daemons)
    await asyncio.sleep(length)
    t1, idle1, second = _sample(daemons)
    seconds = t1 - t0
    cores: dict[str, float] = {}
    for key, ticks in second.items():
        if key in first:
            group = key.split(":", 1)[1]
            cores[group] = cores.get(group, 0.0) + (ticks - first[key]) / _TICK / seconds
    cores["idle"] = (idle1 - idle0) / _TICK / seconds
    return {k: round(v, 2) for k, v in sorted(cores.items())}


def describe(cores: Mapping[str, float]) -> str:
    """``daemon 1.10, PostgreSQL 0.52, ... cores``, for a report's notes."""
    return ", ".join(f"{k} {v:.2f}" for k, v in cores.items()) + " cores"

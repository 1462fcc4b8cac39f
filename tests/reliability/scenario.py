"""What the reliability scenarios share: the seed, quiet logs, and printing counts."""

from __future__ import annotations

import json
import os
import random
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import structlog

from tests.harness import free_port
from xbtcpay.app.logs import configure_logging

# Every scenario runs twice: once on a fixed seed (the same run everywhere, so a regression
# shows up as a change in a known run) and once on a fresh seed (new ground each time).
FIXED_SEED = 20261201
SEED_KINDS = ("fixed", "random")


def seed(name: str, kind: str = "random") -> int:
    """The scenario's seed: ``XBTCPAY_SEED`` when set (reproduce a run), else FIXED_SEED for
    ``kind="fixed"`` and a fresh one for ``kind="random"``.

    Printed at once, so a failing run can be replayed with ``XBTCPAY_SEED=<seed>``.
    """
    if kind not in SEED_KINDS:
        raise ValueError(f"unknown seed kind {kind!r}")
    fresh = FIXED_SEED if kind == "fixed" else random.SystemRandom().randrange(2**32)
    value = int(os.environ.get("XBTCPAY_SEED") or fresh)
    print(f"\n[{name}] {kind} seed={value} (replay: XBTCPAY_SEED={value})", flush=True)
    return value


@contextmanager
def quiet_logs(level: str = "error") -> Iterator[None]:
    """An in-process daemon logs only ``level`` and above while a scenario runs.

    Reorgs, retries and failed attempts are logged by design; hundreds of them would bury
    the counts the scenario prints. ``XBTCPAY_SCENARIO_LOG=info`` shows them when replaying a
    run. The previous structlog configuration is restored.
    """
    saved = structlog.get_config()
    configure_logging(os.environ.get("XBTCPAY_SCENARIO_LOG", level), "json")
    try:
        yield
    finally:
        structlog.configure(**saved)


def report(name: str, counts: dict[str, Any]) -> None:
    """One line a run can be quoted from: ``[name] counts {...}``."""
    print(f"[{name}] counts {json.dumps(counts, sort_keys=True, default=str)}", flush=True)


def stable_port() -> int:
    """A free port below the ephemeral range, for a server that restarts (see free_port)."""
    return free_port()

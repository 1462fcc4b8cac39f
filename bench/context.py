"""What every benchmark shares: sizes, durations, the work directory, the seeded database."""

from __future__ import annotations

import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.machine import Machine, current
from bench.seed import seed
from tests.harness import DEV_XPUB, base_config, write_config


@dataclass(frozen=True)
class Sizes:
    """Knobs of a run; ``Sizes.quick()`` is the smoke-test size."""

    payments: int = 100_000  # stored/open payments for status, memory, watcher cost
    duration: float = 6.0  # seconds of measured load per measurement
    warmup: float = 1.0  # seconds of load before measuring
    connections: int = 32  # concurrent connections for status.json
    start_concurrency: tuple[int, ...] = (1, 16, 64)
    status_requests_for_memory: int = 2_000
    watcher_open: tuple[int, ...] = (10, 10_000, 100_000)
    watcher_blocks: int = 20  # new blocks measured per open-payment count
    catchup_blocks: int = 5_000
    catchup_transfers: int = 20_000
    catchup_to_payments: int = 200  # of those transfers, how many pay open payments
    catchup_groups: int = 200  # blocks holding the transfers (spread evenly)
    latency_rounds: int = 5
    poll_interval: float = 1.0
    sse_subscribers: int = 2_000
    sweep_addresses: int = 200  # deposit addresses swept per flow (bench/sweep.py)
    failovers: int = 5  # leader kills measured per lease TTL (postgres)

    @classmethod
    def quick(cls) -> Sizes:
        return cls(
            payments=300,
            duration=0.6,
            warmup=0.2,
            connections=4,
            start_concurrency=(1, 4),
            status_requests_for_memory=50,
            watcher_open=(10, 100),
            watcher_blocks=3,
            catchup_blocks=60,
            catchup_transfers=120,
            catchup_to_payments=6,
            catchup_groups=12,
            latency_rounds=1,
            poll_interval=0.3,
            sse_subscribers=50,
            sweep_addresses=20,
            failovers=1,
        )


@dataclass
class Context:
    """One benchmark run."""

    workdir: Path
    sizes: Sizes = field(default_factory=Sizes)
    use_wrk: bool = True
    machine: Machine = field(default_factory=current)
    _seeded: Path | None = None

    def dir(self, name: str) -> Path:
        """A fresh sub-directory of the work directory."""
        path = self.workdir / name
        if path.exists():
            shutil.rmtree(path)
        path.mkdir(parents=True)
        return path

    def seeded(self) -> Path:
        """The database with ``sizes.payments`` open payments (seeded once per run)."""
        if self._seeded is None:
            path = self.workdir / "seed" / "seed.db"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.unlink(missing_ok=True)
            started = time.perf_counter()
            seed(path, self.sizes.payments, xpub=DEV_XPUB)
            say(
                f"seeded {self.sizes.payments:,} open payments in "
                f"{time.perf_counter() - started:.1f}s"
            )
            self._seeded = path
        return self._seeded

    def copy_seeded(self, directory: Path) -> Path:
        """A private copy of the seeded database in ``directory``."""
        target = directory / "xbtcpay.db"
        shutil.copyfile(self.seeded(), target)
        return target

    def daemon_config(self, directory: Path, db: Path, extra: dict[str, Any] | None = None) -> Path:
        """A daemon config file in ``directory`` using ``db`` (harness defaults otherwise)."""
        overrides: dict[str, Any] = {
            "database": f"sqlite:///{db}",
            "public": {"base_url": "https://pay.example"},
        }
        if extra:
            from tests.harness import deep_merge

            overrides = deep_merge(overrides, extra)
        return write_config(directory, base_config(directory, overrides))


def say(message: str) -> None:
    """Progress on stderr (results go to stdout)."""
    print(f"[bench] {message}", file=sys.stderr, flush=True)

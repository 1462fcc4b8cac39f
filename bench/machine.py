"""What the numbers were measured on: cores, CPU model, Python, SQLite, kernel."""

from __future__ import annotations

import os
import platform
import sqlite3
import sys
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class Machine:
    """The machine of one benchmark run."""

    cores: int
    cpu: str
    python: str
    sqlite: str
    kernel: str
    load: str  # 1/5/15-minute load average when the run started (other work on the machine)

    def line(self) -> str:
        """One line for the side of a table."""
        return (
            f"{self.cores} cores ({self.cpu}), Python {self.python}, "
            f"SQLite {self.sqlite}, Linux {self.kernel}, load average at start {self.load}"
        )

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def current() -> Machine:
    """Describe this machine."""
    return Machine(
        cores=os.cpu_count() or 1,
        cpu=_cpu_model(),
        python=sys.version.split()[0],
        sqlite=sqlite3.sqlite_version,
        kernel=platform.release(),
        load=" ".join(f"{x:.2f}" for x in os.getloadavg()),
    )

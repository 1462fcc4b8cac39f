"""The overview's chart, drawn on the server: paid payments per day as SVG bars.

Only geometry is computed here; the template writes the ``<svg>`` (no script, no external
file, colours from the page's stylesheet so it follows light and dark).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

WIDTH = 600
HEIGHT = 160
_BASELINE = HEIGHT - 20


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    day: str  # 2026-12-07
    count: int


@dataclass(frozen=True)
class Chart:
    bars: tuple[Bar, ...]
    peak: int
    width: int = WIDTH
    height: int = HEIGHT
    baseline: int = _BASELINE


def daily_bars(paid_at: Iterable[int], today: datetime, days: int = 30) -> Chart:
    """One bar per UTC day of the last ``days`` days (today last)."""
    first = (today - timedelta(days=days - 1)).date()
    counts = [0] * days
    for at in paid_at:
        index = (datetime.fromtimestamp(at, UTC).date() - first).days
        if 0 <= index < days:
            counts[index] += 1
    peak = max(counts) or 1
    slot = WIDTH / days
    bars = []
    for index, count in enumerate(counts):
        height = (_BASELINE - 10) * count / peak
        bars.append(
            Bar(
                x=round(index * slot + 1, 2),
                y=round(_BASELINE - height, 2),
                width=round(slot - 2, 2),
                height=round(height, 2),
                day=(first + timedelta(days=index)).isoformat(),
                count=count,
            )
        )
    return Chart(tuple(bars), max(counts))

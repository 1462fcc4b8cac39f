"""A daemon clock for the checkout tests."""

from __future__ import annotations

import time


class FrozenClock:
    """The daemon's clock, still until the test moves it (so the countdown starts at 15:00)."""

    def __init__(self) -> None:
        self.now = float(int(time.time()))

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds

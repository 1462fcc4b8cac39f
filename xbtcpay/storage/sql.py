"""Statement helpers shared by the storage modules (none of them reaches past storage).

Queries that need "open" payments take the states as parameters from
``xbtcpay.core.state.OPEN_STATES`` (``open_states()``), never as SQL literals, so the state
table stays the one place that says which states can still be paid.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from xbtcpay.core.state import OPEN_STATES


def open_states() -> tuple[str, ...]:
    """The states in which a payment can still be paid, as SQL parameters (sorted)."""
    return tuple(sorted(s.value for s in OPEN_STATES))


def marks(values: Sequence[Any]) -> str:
    """``?, ?, ?`` for an ``IN (...)`` list of ``values``."""
    return ", ".join("?" for _ in values)

"""Statement helpers shared by the storage modules (none of them reaches past storage).

Queries that need "open" payments take the states as parameters from
``xbtcpay.core.state.OPEN_STATES`` (``open_states()``), never as SQL literals, so the state
table stays the one place that says which states can still be paid.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from xbtcpay.core.state import OPEN_STATES


def open_states() -> tuple[str, ...]:
    """The states in which a payment can still be paid, as SQL parameters (sorted)."""
    return tuple(sorted(s.value for s in OPEN_STATES))


def marks(values: Sequence[Any]) -> str:
    """``?, ?, ?`` for an ``IN (...)`` list of ``values``."""
    return ", ".join("?" for _ in values)


# JSON text of a stored column (details, extra): compact, anything else as ``str``; one
# encoder for every call (``json.dumps`` with arguments builds one per call)
compact_json = json.JSONEncoder(separators=(",", ":"), default=str).encode

# PostgreSQL commit-order watermarks, as bigints: the oldest transaction still running
# (every older one has ended), and, inside a statement, the first transaction id its
# snapshot does not see. Followers of a table that replicas write out of order
# (addresses, the event log) read by them.
SNAPSHOT_XMIN = "SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint"
SNAPSHOT_XMAX = "pg_snapshot_xmax(pg_current_snapshot())::text::bigint"

"""The ``cluster:`` section: several replicas on one PostgreSQL share a leader lease."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from xbtcpay.core.settings import Reader


@dataclass(frozen=True)
class ClusterConfig:
    """The leader lease of replicas sharing one database (see ``cluster/leadership.py``)."""

    lease_ttl: float = 10.0
    replica_id: str | None = None  # default: hostname:pid


def parse_cluster(r: Reader, s: dict[str, Any]) -> ClusterConfig:
    for key in s:
        if key not in ("lease_ttl", "replica_id"):
            r.bad(f"cluster.{key}", "unknown key (typo?)")
    ttl = r.number("cluster.lease_ttl", s.get("lease_ttl", 10.0), 1.0)
    replica = s.get("replica_id")
    if replica is not None and (not isinstance(replica, str) or not replica.strip()):
        r.bad("cluster.replica_id", "expected a non-empty string")
        replica = None
    return ClusterConfig(lease_ttl=ttl, replica_id=replica)

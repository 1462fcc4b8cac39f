"""Prometheus metrics of one daemon (own registry: no globals)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from xbtcpay.core.state import State


class Metrics:
    """Counters and gauges exposed on the private port at /metrics."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.payments = Gauge(
            "xbtcpay_payments", "Payments by status", ["status"], registry=self.registry
        )
        self.transitions = Counter(
            "xbtcpay_payment_transitions_total",
            "Payment state transitions by event",
            ["event"],
            registry=self.registry,
        )
        self._transition_counts: dict[str, Counter] = {}
        self.postback_queue = Gauge(
            "xbtcpay_postback_queue",
            "Postbacks by delivery status",
            ["status"],
            registry=self.registry,
        )
        self.postback_attempts = Counter(
            "xbtcpay_postback_attempts_total",
            "Postback delivery attempts",
            ["result"],
            registry=self.registry,
        )
        self.request_latency = Histogram(
            "xbtcpay_request_seconds",
            "HTTP request latency",
            ["port", "route"],
            registry=self.registry,
        )
        self.chain_head = Gauge(
            "xbtcpay_chain_head", "Latest block seen by the watcher", registry=self.registry
        )
        self.chain_block = Gauge(
            "xbtcpay_chain_block",
            "Latest block scanned by the watcher of each chain",
            ["chain"],
            registry=self.registry,
        )
        self.chain_head_age = Gauge(
            "xbtcpay_chain_head_age_seconds",
            "Seconds since the chain's head last moved (node health)",
            ["chain"],
            registry=self.registry,
        )
        self.chain_rpc_stale = Gauge(
            "xbtcpay_chain_rpc_stale",
            "1 while a node url of the chain is stale (behind the others, or its head stands)",
            ["chain", "url"],
            registry=self.registry,
        )
        self.chain_rpc_calls = Counter(
            "xbtcpay_chain_rpc_calls_total",
            "JSON-RPC calls made to the node",
            ["method"],
            registry=self.registry,
        )

        self.cluster_leader = Gauge(
            "xbtcpay_cluster_leader",
            "1 on the replica holding the leader lease, else 0",
            ["replica"],
            registry=self.registry,
        )
        self.cluster_term = Gauge(
            "xbtcpay_cluster_term", "Current leader term (fencing token)", registry=self.registry
        )

    def count_transition(self, payment: object, event: str) -> None:
        """A transition listener: one more ``event`` (the labelled child is looked up once
        per event name, not on every payment)."""
        child = self._transition_counts.get(event)
        if child is None:
            child = self._transition_counts[event] = self.transitions.labels(event)
        child.inc()

    def set_cluster(self, replica: str, leader: bool, term: int) -> None:
        self.cluster_leader.labels(replica).set(1 if leader else 0)
        self.cluster_term.set(term)

    def postback_attempt(self, ok: bool, outcome: str) -> None:
        self.postback_attempts.labels(
            "ok" if ok else ("gave_up" if outcome == "failed" else "retry")
        ).inc()

    def set_counts(self, payments: dict[str, int], postbacks: dict[str, int]) -> None:
        for state in State:
            self.payments.labels(state.value).set(payments.get(state.value, 0))
        for status in ("pending", "delivered", "failed"):
            self.postback_queue.labels(status).set(postbacks.get(status, 0))

    def render(self) -> bytes:
        return generate_latest(self.registry)

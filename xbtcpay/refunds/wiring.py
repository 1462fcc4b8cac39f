"""Plug refunds into a daemon: the ``refund.*`` methods, the payout tracker job and the
``xbtcpay_refund_steps_total`` counter."""

from __future__ import annotations

import time
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter

from xbtcpay.core.persistence import Engine
from xbtcpay.core.processor import PaymentProcessor
from xbtcpay.core.registrations import Registrations
from xbtcpay.core.registry import MethodRegistry
from xbtcpay.rates.book import RateBook
from xbtcpay.refunds.approval import Approval
from xbtcpay.refunds.claim import RefundClaims
from xbtcpay.refunds.service import RefundService
from xbtcpay.refunds.settings import RefundInputs
from xbtcpay.refunds.tracker import PayoutTracker

TRACK_INTERVAL = 2.0  # seconds between payout tracker rounds (at most the chain's poll)


def register(
    config: RefundInputs,
    claim_base: str,
    db: Engine,
    processor: PaymentProcessor,
    rates: RateBook | None,
    metrics: CollectorRegistry,
    registry: MethodRegistry,
    registrations: Registrations,
    poll_interval: float,
    clock: Callable[[], float] = time.time,
) -> RefundClaims:
    """Register the methods and the tracker job; the claim page's service is returned for
    the public port."""
    steps = Counter(
        "xbtcpay_refund_steps_total", "Refunds reaching each step", ["step"], registry=metrics
    )
    service = RefundService(config, claim_base, db, rates, steps, clock)
    service.register(registry)
    tracker = PayoutTracker(config, db, processor, steps, clock)
    registry.add("refund.approve", Approval(config, db, tracker, steps, clock).approve)
    registrations.jobs.append(("refund-payouts", tracker.run, min(TRACK_INTERVAL, poll_interval)))
    return RefundClaims(config, db, steps, clock)

"""Expires open payments whose deadline passed (not while funds await confirmations, nor
while every node of the payment's chain is stale: funds may be sitting there unseen)."""

from __future__ import annotations

from collections.abc import Callable

import structlog

from xbtcpay.core.models import CRYPTO, Payment, PaymentEvent
from xbtcpay.core.processor import PaymentProcessor
from xbtcpay.core.state import Event

log = structlog.get_logger("xbtcpay.expiry")


async def expire_due(
    processor: PaymentProcessor, held: Callable[[Payment], bool] = lambda p: False
) -> int:
    """Apply ``expired`` to every due open payment not ``held``; return how many expired."""
    count = 0
    for payment in await processor.store.open_expired(processor.now()):
        if payment.method == CRYPTO and payment.amount_received >= payment.amount:
            continue  # fully funded, waiting for confirmations: the watcher decides
        if held(payment):
            continue  # its chain's nodes are stale: expired on a later round
        result = await processor.apply(payment.id, PaymentEvent(Event.EXPIRED, source="expiry"))
        count += int(result.changed)
    return count

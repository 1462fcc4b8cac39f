"""Expires open payments whose deadline passed (not while funds await confirmations)."""

from __future__ import annotations

import structlog

from xbtcpay.core.models import CRYPTO, PaymentEvent
from xbtcpay.core.processor import PaymentProcessor
from xbtcpay.core.state import Event

log = structlog.get_logger("xbtcpay.expiry")


async def expire_due(processor: PaymentProcessor) -> int:
    """Apply ``expired`` to every due open payment; return how many expired."""
    count = 0
    for payment in await processor.store.open_expired(processor.now()):
        if payment.method == CRYPTO and payment.amount_received >= payment.amount:
            continue  # fully funded, waiting for confirmations: the watcher decides
        result = await processor.apply(payment.id, PaymentEvent(Event.EXPIRED, source="expiry"))
        count += int(result.changed)
    return count

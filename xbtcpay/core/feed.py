"""The change feed: who hears about committed payment changes and new chain heads.

The processor reports each committed transition of this replica once
(``publish_transition``): the transition listeners hear it first (the status.json cache
re-renders the body, the transition counter counts it), then the payment listeners. A change
committed by another replica is published to the payment listeners alone
(``publish_payment``): this replica neither counts it nor re-renders it. Every subscriber
(the checkout page's live stream, dev mode's console, plugins) is called in registration
order. Subscribers run on the event loop and must not block; an exception in one is logged
and does not stop the others or the caller, whose change is already committed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import structlog

from xbtcpay.core.models import Payment

log = structlog.get_logger("xbtcpay.feed")

PaymentListener = Callable[[Payment, str], None]
HeadListener = Callable[[int], None]


@dataclass
class PaymentFeed:
    """Subscriber lists for payment changes and chain heads (django-payments' signal)."""

    payment_listeners: list[PaymentListener] = field(default_factory=list)
    head_listeners: list[HeadListener] = field(default_factory=list)
    transition_listeners: list[PaymentListener] = field(default_factory=list)

    def on_transition(self, listener: PaymentListener) -> Callable[[], None]:
        """Call ``listener(payment, event)`` after each change committed by this replica,
        before the payment listeners; returns an unsubscribe."""
        self.transition_listeners.append(listener)
        return lambda: _remove(self.transition_listeners, listener)

    def on_payment(self, listener: PaymentListener) -> Callable[[], None]:
        """Call ``listener(payment, event)`` after each committed change; returns an unsubscribe."""
        self.payment_listeners.append(listener)
        return lambda: _remove(self.payment_listeners, listener)

    def on_head(self, listener: HeadListener) -> Callable[[], None]:
        """Call ``listener(number)`` on each new chain head; returns an unsubscribe."""
        self.head_listeners.append(listener)
        return lambda: _remove(self.head_listeners, listener)

    def publish_transition(self, payment: Payment, event: str) -> None:
        """A change this replica committed: transition listeners, then payment listeners."""
        _call(self.transition_listeners, payment, event)
        _call(self.payment_listeners, payment, event)

    def publish_payment(self, payment: Payment, event: str) -> None:
        """A change to show (committed here or by another replica): payment listeners."""
        _call(self.payment_listeners, payment, event)

    def publish_head(self, number: int) -> None:
        for listener in list(self.head_listeners):
            try:
                listener(number)
            except Exception:
                log.exception("feed.listener_failed", head=number)


def _call(listeners: list[PaymentListener], payment: Payment, event: str) -> None:
    for listener in list(listeners):
        try:
            listener(payment, event)
        except Exception:  # the change is committed; one listener must not hide it
            log.exception("feed.listener_failed", payment_id=payment.id, transition=event)


def _remove(listeners: list[PaymentListener] | list[HeadListener], listener: object) -> None:
    if listener in listeners:
        listeners.remove(listener)  # type: ignore[arg-type]

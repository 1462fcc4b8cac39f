"""Translation of verified Stripe events (and fetched sessions) into payment events. Pure.

    checkout.session.completed               paid if payment_status == "paid", else seen
    checkout.session.async_payment_succeeded paid
    checkout.session.async_payment_failed    failed
    checkout.session.expired                 expired
    charge.refunded                          refunded / partially_refunded (amount_refunded)
    charge.dispute.created                   disputed
    charge.dispute.closed                    dispute_won (won) / charged_back (lost)

Anything else is acknowledged and ignored.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from xbtcpay.plugin_api import Event, PaymentEvent
from xbtcpay_stripe.money import from_minor


@dataclass(frozen=True)
class Fact:
    """A payment event and how to find its payment (our id first, else the PaymentIntent)."""

    payment_id: str | None
    payment_intent: str | None
    event: PaymentEvent
    amount_total: int | None = None  # minor units the session charges (sessions only)
    currency: str | None = None


def from_the_future(event: Mapping[str, Any], now: float, tolerance: int) -> bool:
    """Whether the event's ``created`` lies more than ``tolerance`` seconds after ``now``.

    The signature's own timestamp is bounded by the same tolerance; an event stamped further
    ahead than that was not produced by Stripe for this delivery, so it is not applied.
    """
    created = event.get("created")
    if isinstance(created, bool) or not isinstance(created, int):
        return False
    return created > now + tolerance


def _metadata_id(obj: Mapping[str, Any]) -> str | None:
    metadata = obj.get("metadata") or {}
    value = metadata.get("payment_id") or obj.get("client_reference_id")
    return str(value) if value else None


def session_fact(
    session: Mapping[str, Any], kind: Event, dedupe_key: str, reason: str | None = None
) -> Fact:
    """A fact about a Checkout Session (from a webhook or from the API)."""
    pi = session.get("payment_intent")
    pi = pi.get("id") if isinstance(pi, Mapping) else pi
    total, currency = session.get("amount_total"), session.get("currency")
    received = (
        from_minor(total, currency)
        if kind == Event.PAID and total is not None and currency
        else None
    )
    event = PaymentEvent(
        kind,
        dedupe_key=dedupe_key,
        provider_ref=pi or None,
        reason=reason,
        amount_received=received,
        extra={"stripe_session": session.get("id"), "stripe_payment_intent": pi},
    )
    return Fact(_metadata_id(session), pi, event, total, currency)


def completed_kind(session: Mapping[str, Any]) -> Event | None:
    """What a session's current state says: paid, seen (awaiting funds), expired or nothing."""
    if session.get("payment_status") == "paid":
        return Event.PAID
    if session.get("status") == "complete":
        return Event.SEEN
    if session.get("status") == "expired":
        return Event.EXPIRED
    return None


def _charge_fact(charge: Mapping[str, Any], dedupe_key: str) -> Fact:
    currency = str(charge.get("currency") or "usd")
    refunded = from_minor(int(charge.get("amount_refunded") or 0), currency)
    kind = Event.REFUNDED if charge.get("refunded") else Event.PARTIALLY_REFUNDED
    event = PaymentEvent(
        kind,
        dedupe_key=dedupe_key,
        amount_refunded=refunded,
        extra={"stripe_charge": charge.get("id")},
    )
    return Fact(_metadata_id(charge), charge.get("payment_intent"), event)


def _dispute_fact(dispute: Mapping[str, Any], kind: Event, dedupe_key: str) -> Fact:
    event = PaymentEvent(
        kind,
        dedupe_key=dedupe_key,
        reason=dispute.get("reason"),
        extra={"stripe_dispute": dispute.get("id")},
    )
    return Fact(None, dispute.get("payment_intent"), event)


def fact_of(event: Mapping[str, Any]) -> Fact | None:
    """The payment fact a verified Stripe event carries, or None to ignore it."""
    kind, obj = event.get("type"), (event.get("data") or {}).get("object") or {}
    key = f"stripe:{event.get('id')}"
    if kind == "checkout.session.completed":
        paid = obj.get("payment_status") == "paid"
        return session_fact(obj, Event.PAID if paid else Event.SEEN, key)
    if kind == "checkout.session.async_payment_succeeded":
        return session_fact(obj, Event.PAID, key)
    if kind == "checkout.session.async_payment_failed":
        return session_fact(obj, Event.FAILED, key, reason="async payment failed")
    if kind == "checkout.session.expired":
        return session_fact(obj, Event.EXPIRED, key, reason="checkout session expired")
    if kind == "charge.refunded":
        return _charge_fact(obj, key)
    if kind == "charge.dispute.created":
        return _dispute_fact(obj, Event.DISPUTED, key)
    if kind == "charge.dispute.closed" and obj.get("status") in ("won", "lost"):
        won = obj.get("status") == "won"
        return _dispute_fact(obj, Event.DISPUTE_WON if won else Event.CHARGED_BACK, key)
    return None

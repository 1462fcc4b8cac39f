"""Verified Stripe events about subscriptions, translated for PluginContext.subscription_event.

    invoice.paid (billing_reason subscription_cycle)   renewed: a period paid (amount_paid)
    customer.subscription.updated, cancel_at_period_end  canceled: stops at period end
    customer.subscription.deleted                       terminated: ends now

The first invoice of a subscription (subscription_create) is the purchase itself and is
ignored here. Pure.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class SubscriptionFact:
    subscription: str
    kind: str  # renewed | canceled | terminated
    amount_minor: int | None = None
    currency: str | None = None
    reference: str | None = None  # the invoice id of a renewal


def _invoice_subscription(invoice: Mapping[str, Any]) -> str | None:
    """The subscription of an invoice (older API versions: ``subscription``; newer:
    ``parent.subscription_details.subscription``)."""
    sub = invoice.get("subscription")
    if not sub:
        parent = invoice.get("parent") or {}
        sub = (parent.get("subscription_details") or {}).get("subscription")
    if isinstance(sub, Mapping):
        sub = sub.get("id")
    return str(sub) if sub else None


def subscription_fact(event: Mapping[str, Any]) -> SubscriptionFact | None:
    kind, obj = event.get("type"), (event.get("data") or {}).get("object") or {}
    if kind == "invoice.paid" and obj.get("billing_reason") == "subscription_cycle":
        sub = _invoice_subscription(obj)
        amount = obj.get("amount_paid")
        if sub is None or not isinstance(amount, int) or not obj.get("currency"):
            return None
        return SubscriptionFact(
            sub, "renewed", amount, str(obj["currency"]).upper(), str(obj.get("id"))
        )
    if kind == "customer.subscription.updated" and obj.get("cancel_at_period_end") is True:
        previous = (event.get("data") or {}).get("previous_attributes") or {}
        if "cancel_at_period_end" in previous:  # it changed with this event
            return SubscriptionFact(str(obj.get("id")), "canceled")
        return None
    if kind == "customer.subscription.deleted" and obj.get("id"):
        return SubscriptionFact(str(obj["id"]), "terminated")
    return None

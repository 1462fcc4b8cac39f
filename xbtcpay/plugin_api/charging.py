"""The charging interface: what a provider plugin implements so purchases can charge a stored
card, a wallet token or a fresh nonce on the merchant's initiative.

A plugin takes part by having a ``charge`` method (checked structurally, ``Charger``); the
core's purchases call it and map each ``Outcome`` onto the answer the caller sees: ``paid``
succeeds, ``declined``, ``no_stored_card`` and ``token_failed`` are the customer's to fix,
``failed`` is the provider's fault, and ``unknown`` stays pending until reconciliation
settles it. It lives in the SDK (not in the purchases service) so that a plugin depends on
this contract only.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Literal, Protocol, runtime_checkable

SourceKind = Literal["stored_card", "wallet", "nonce"]
Outcome = Literal["paid", "declined", "no_stored_card", "token_failed", "failed", "unknown"]


@dataclass(frozen=True)
class ChargeRequest:
    """One charge the core asks a plugin for (``payment_id`` is the idempotency key)."""

    payment_id: str
    customer: str
    amount: Decimal
    currency: str
    source: SourceKind
    token: str | None = None  # nonce or wallet token; None for a stored card
    wallet: str | None = None  # ApplePay | GooglePay


@dataclass(frozen=True)
class ChargeResult:
    """What the provider answered, in the core's words."""

    outcome: Outcome
    provider_ref: str | None = None
    card_brand: str | None = None
    card_last4: str | None = None
    message: str = ""  # safe to show: never a card number or a secret


@runtime_checkable
class Charger(Protocol):
    """A plugin that can charge a customer on the merchant's initiative."""

    name: str

    async def charge(self, request: ChargeRequest) -> ChargeResult:
        """Charge once (idempotent on ``payment_id`` at the provider where it supports it)."""

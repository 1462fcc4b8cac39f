"""What a provider plugin implements so purchases can charge a stored card, a wallet token
or a fresh nonce off-session: a ``charge`` method (checked structurally, ``Charger``).

Outcomes map onto the purchase endpoint's ``PaymentResponse``: ``paid`` -> Success, ``declined`` ->
CardDeclined, ``no_stored_card`` -> NoStoredCard, ``token_failed`` -> TokenAcquisitionFailed,
``failed`` -> ProviderError, ``unknown`` -> Pending (reconciliation settles it later).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Literal, Protocol, runtime_checkable

from xbtcpay.commerce.purchases.responses import PaymentResponse

SourceKind = Literal["stored_card", "wallet", "nonce"]
Outcome = Literal["paid", "declined", "no_stored_card", "token_failed", "failed", "unknown"]
RESPONSES: dict[str, PaymentResponse] = {
    "paid": PaymentResponse.SUCCESS,
    "declined": PaymentResponse.CARD_DECLINED,
    "no_stored_card": PaymentResponse.NO_STORED_CARD,
    "token_failed": PaymentResponse.TOKEN_ACQUISITION_FAILED,
    "failed": PaymentResponse.PROVIDER_ERROR,
    "unknown": PaymentResponse.PENDING,
}


@dataclass(frozen=True)
class ChargeRequest:
    payment_id: str
    customer: str
    amount: Decimal
    currency: str
    source: SourceKind
    token: str | None = None  # nonce or wallet token; None for a stored card
    wallet: str | None = None  # ApplePay | GooglePay


@dataclass(frozen=True)
class ChargeResult:
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

"""The rule every provider plugin applies before it reports a payment paid.

A payment becomes ``paid`` only when the provider's own record of the charge names the
payment's currency and an amount of at least its price. A charge in another currency (JPY
1000 for a USD 500.00 payment) or without an amount proves nothing about the price, so it is
reported as ``seen`` with the reason instead, for the operator to look at.

Amounts compare as exact decimals: a provider's integer minor units converted exactly
(``Decimal(units).scaleb(-exponent)``) compare equal to the decimal price they represent.
"""

from __future__ import annotations

from decimal import Decimal

from xbtcpay.core.models import Payment


def shortfall(payment: Payment, currency: str | None, amount: Decimal | None) -> str | None:
    """Why a charge of ``amount`` ``currency`` does not pay ``payment``; None when it does."""
    if not currency:
        return "charge names no currency"
    if amount is None:
        return "charge names no amount"
    if currency.strip().upper() != payment.asset.upper():
        return f"charged in {currency.upper()}, expected {payment.asset.upper()}"
    if amount < payment.amount:
        return f"amount short: charged {amount:f}, expected {payment.amount:f}"
    return None

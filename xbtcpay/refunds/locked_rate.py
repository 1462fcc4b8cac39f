"""The rate a payment was priced at, for refunds of a fiat amount at ``rate: original``.

This is the one place refunds read it. For an invoice priced in fiat it is the locked rate
of the option the customer paid (its quote's rate, in the invoice's currency). Otherwise it
is the rate implied by the fiat price the shop gave ``start_payment`` (``fiat: {amount,
currency}``, kept in the payment's ``extra`` and shown on the checkout page): fiat amount /
crypto amount. A payment without either answers
None, and a fiat refund at the original rate is then refused with a clear error (the caller
can refund a crypto amount, or a fiat amount at ``rate: current``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation, localcontext

from xbtcpay.core.invoices import invoice_of
from xbtcpay.core.models import Payment


@dataclass(frozen=True)
class LockedRate:
    """How many ``currency`` one unit of the payment's asset was worth when it was priced."""

    currency: str
    value: Decimal


def locked_rate(payment: Payment) -> LockedRate | None:
    """The payment's locked rate, or None when it was not priced at one."""
    invoice = invoice_of(payment)
    if invoice is not None:
        picked = invoice.get("picked")
        if not isinstance(picked, Mapping) or picked.get("asset") != payment.asset:
            return None  # no option chosen yet: nothing was paid at a rate
        try:
            rate = Decimal(str(picked.get("rate")))
        except (InvalidOperation, ValueError):
            return None
        currency = invoice.get("currency")
        if not isinstance(currency, str) or not rate.is_finite() or rate <= 0:
            return None
        return LockedRate(currency.upper(), rate)
    fiat = payment.extra.get("fiat")
    if not isinstance(fiat, Mapping) or payment.amount <= 0:
        return None
    currency = fiat.get("currency")
    try:
        amount = Decimal(str(fiat.get("amount")))
    except (InvalidOperation, ValueError):
        return None
    if not isinstance(currency, str) or not amount.is_finite() or amount <= 0:
        return None
    with localcontext() as ctx:
        ctx.prec = 60  # a rate that does not terminate keeps far more digits than money has
        return LockedRate(currency.upper(), amount / payment.amount)

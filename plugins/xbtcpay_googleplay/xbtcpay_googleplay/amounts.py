"""The amount rule: a Google Play purchase pays a payment only when Google's price covers it.

Google's price is the one the API gives (``priceAmountMicros``/``priceCurrencyCode``, or a
subscription line item's recurring ``Money``); when it gives none, the catalog price of the
product stands in. The currency must equal the payment's, and the amount (times the quantity)
must be at least the payment's amount. Both sides are exact Decimals, so the comparison is
the same as one in integer minor units.
"""

from __future__ import annotations

from decimal import Decimal

from xbtcpay.plugin_api import InvalidParams, PluginContext
from xbtcpay_googleplay.purchase import Purchase, Refused


def catalog_due(ctx: PluginContext, product: str, purchase: Purchase) -> tuple[str, Decimal]:
    """(currency, amount) a payment for ``purchase`` is created with: the catalog price."""
    try:
        currency, listed = ctx.price(product, purchase.currency, None)
    except InvalidParams as exc:
        if purchase.currency:
            raise Refused(f"{product} has no catalog price in {purchase.currency}") from exc
        raise Refused(f"{product} has no fixed catalog price") from exc
    return currency, Decimal(listed) * purchase.quantity


def check_covers(purchase: Purchase, currency: str, amount: Decimal) -> None:
    """Refused unless Google's price (when it gives one) pays ``amount`` in ``currency``."""
    if purchase.price is None or not purchase.currency:
        return
    if purchase.currency.upper() != currency.upper():
        raise Refused(f"Google Play charged in {purchase.currency}, the payment is in {currency}")
    paid = purchase.price * purchase.quantity
    if paid < amount:
        raise Refused(
            f"Google Play price {paid} {purchase.currency} is below the catalog price "
            f"{amount} {currency}"
        )

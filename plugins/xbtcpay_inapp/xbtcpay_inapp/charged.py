"""Does a provider's postback pay our payment? xbtcpay.core.price_rule over the offered prices.

The request JWT offers one price per country; the buyer may pay any of them, so a postback
that states a price must name the currency of an offered price and at least its amount. A
postback that states no price is paid on the strength of the signed request, whose prices
the provider charged.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from xbtcpay.plugin_api import Payment, parse_money, shortfall


def offered_prices(offer_prices: tuple[Mapping[str, str], ...]) -> list[dict[str, str]]:
    """The prices kept in the payment's ``extra`` (currency and amount of each entry)."""
    return [{"currency": p["currency"], "amount": p["amount"]} for p in offer_prices]


def postback_shortfall(payment: Payment, stated: Any) -> str | None:
    """Why a postback's stated ``price`` does not pay ``payment``; None when it does."""
    if stated is None:
        return None
    if not isinstance(stated, Mapping):
        return "postback price is not an object"
    currency = stated.get("currency")
    amount = (
        parse_money(str(stated.get("amount")), decimals=6)
        if stated.get("amount") is not None
        else None
    )
    currency = currency if isinstance(currency, str) else None
    why = shortfall(payment, currency, amount)
    for offered in _offered(payment):
        if currency and offered.asset.upper() == currency.upper():
            why = shortfall(offered, currency, amount)
    return why


def received(payment: Payment, stated: Any) -> Decimal:
    """What a paying postback received, in the payment's currency.

    The stated price when it names the payment's currency; else the payment's own amount
    (no price stated: the provider charged the signed request's price; another offered
    currency: the entry the seller priced as equal to it, kept in ``extra.postback``).
    """
    if isinstance(stated, Mapping) and stated.get("amount") is not None:
        currency = stated.get("currency")
        amount = parse_money(str(stated.get("amount")), decimals=6)
        if (
            amount is not None
            and isinstance(currency, str)
            and currency.strip().upper() == payment.asset.upper()
        ):
            return Decimal(amount)
    return payment.amount


def _offered(payment: Payment) -> list[Payment]:
    request = payment.extra.get("request") if isinstance(payment.extra, Mapping) else None
    prices = request.get("prices") if isinstance(request, Mapping) else None
    out: list[Payment] = []
    for price in prices if isinstance(prices, list) else []:
        amount = (
            parse_money(str(price.get("amount")), decimals=6)
            if isinstance(price, Mapping)
            else None
        )
        if amount is not None and isinstance(price.get("currency"), str):
            out.append(
                dataclasses.replace(payment, asset=price["currency"], amount=Decimal(amount))
            )
    return out

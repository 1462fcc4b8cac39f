"""What the shop asks to sell in one createInAppRequest call, validated.

Either a catalog ``product`` (price from config.yaml; ``currency``/``amount`` as for any
catalog purchase, ``country`` for the price entry) or an explicit ``name``, ``description``,
``price`` list of ``{country, currency, amount}`` and ``defaultPrice`` (a country of the list,
needed when the list has more than one entry). Our payment is in the default price.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from xbtcpay.plugin_api import InvalidParams, PluginContext, data_text, parse_money, postback_url

MAX_PRICES = 50
_COUNTRY = re.compile(r"^[A-Z]{2}\Z")
_CURRENCY = re.compile(r"^[A-Z]{3}\Z")


@dataclass(frozen=True)
class Offer:
    name: str
    description: str
    prices: tuple[Mapping[str, str], ...]
    default_country: str
    currency: str
    amount: Decimal
    product: str | None = None
    product_data: str | None = None
    price_point: int | None = None
    customer: str | None = None
    data: str = "null"
    postback_url: str | None = None


def parse_offer(params: Mapping[str, Any], ctx: PluginContext, default_country: str) -> Offer:
    """Validate the method's params; InvalidParams names the first problem."""
    common = _common(params)
    if params.get("product") is not None:
        return _catalog_offer(params, ctx, default_country, common)
    name = _text(params, "name", 100, required=True)
    description = _text(params, "description", 2000, required=True)
    prices = _prices(params.get("price"))
    default = params.get("defaultPrice")
    if default is None and len(prices) == 1:
        default = prices[0]["country"]
    chosen = [p for p in prices if p["country"] == default]
    if not chosen:
        raise InvalidParams("defaultPrice must be the country of one entry of price")
    amount = parse_money(chosen[0]["amount"])
    assert amount is not None
    return Offer(
        name=name or "",
        description=description or "",
        prices=tuple(prices),
        default_country=str(default),
        currency=chosen[0]["currency"],
        amount=amount,
        **common,
    )


def _catalog_offer(
    params: Mapping[str, Any], ctx: PluginContext, default_country: str, common: dict[str, Any]
) -> Offer:
    product = params["product"]
    currency, amount = ctx.price(product, params.get("currency"), params.get("amount"))
    spec = ctx.product(product) or {}
    country = params.get("country", default_country)
    if not isinstance(country, str) or not _COUNTRY.match(country):
        raise InvalidParams("country must be an ISO 3166 code such as US")
    name = _text(params, "name", 100) or str(spec.get("name") or product)
    description = _text(params, "description", 2000) or str(spec.get("description") or name)
    price = {"country": country, "currency": currency, "amount": format(amount, "f")}
    return Offer(
        name=name,
        description=description,
        prices=(price,),
        default_country=country,
        currency=currency,
        amount=Decimal(amount),
        product=product,
        **common,
    )


def _common(params: Mapping[str, Any]) -> dict[str, Any]:
    customer = _text(params, "customer", 256)
    product_data = _text(params, "productData", 1024)
    url = postback_url(params)
    point = params.get("pricePoint")
    if point is not None and (isinstance(point, bool) or not isinstance(point, int)):
        raise InvalidParams("pricePoint must be an integer")
    data = data_text(params.get("data"))
    return {
        "customer": customer,
        "product_data": product_data,
        "postback_url": url,
        "price_point": point,
        "data": data,
    }


def _text(params: Mapping[str, Any], key: str, limit: int, *, required: bool = False) -> str | None:
    value = params.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > limit:
        raise InvalidParams(f"{key} must be text of at most {limit} characters")
    return value


def _prices(value: Any) -> list[dict[str, str]]:
    if not isinstance(value, list) or not value or len(value) > MAX_PRICES:
        raise InvalidParams("price must be a list of {country, currency, amount}")
    out = []
    for entry in value:
        if not isinstance(entry, Mapping):
            raise InvalidParams("price must be a list of {country, currency, amount}")
        country, currency = entry.get("country"), entry.get("currency")
        amount = parse_money(entry.get("amount"))
        if not isinstance(country, str) or not _COUNTRY.match(country):
            raise InvalidParams("price[].country must be an ISO 3166 code such as US")
        if not isinstance(currency, str) or not _CURRENCY.match(currency):
            raise InvalidParams("price[].currency must be an ISO 4217 code such as USD")
        if amount is None:
            raise InvalidParams('price[].amount must be a positive decimal such as "5.50"')
        out.append({"country": country, "currency": currency, "amount": format(amount, "f")})
    if len({p["country"] for p in out}) != len(out):
        raise InvalidParams("price lists a country twice")
    return out

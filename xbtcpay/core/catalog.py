"""The product catalog (``products:`` in config.yaml): exact prices per currency."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from xbtcpay.core.amounts import parse_money
from xbtcpay.core.errors import InvalidParams

PRODUCT_TYPES = ("one_time", "subscription", "top_up", "ownage", "ppv")
DEFAULT_PRODUCTS: dict[str, dict[str, Any]] = {
    "buying_increase_balance": {"type": "top_up", "currency": "USD", "min": "1", "max": "1000"},
}


class Catalog:
    """Validated view of the product catalog."""

    def __init__(self, products: Mapping[str, Mapping[str, Any]]) -> None:
        merged = {**DEFAULT_PRODUCTS, **{k: dict(v) for k, v in products.items()}}
        self.products = merged

    @staticmethod
    def problems(products: Mapping[str, Mapping[str, Any]]) -> list[str]:
        """One line per invalid product entry (used by config validation)."""
        out = Catalog.store_id_problems(products)
        for name, spec in products.items():
            where = f"products.{name}"
            kind = spec.get("type")
            if kind not in PRODUCT_TYPES:
                out.append(f"{where}.type: one of {', '.join(PRODUCT_TYPES)}")
                continue
            if kind == "top_up":
                for key in ("min", "max"):
                    if parse_money(str(spec.get(key, ""))) is None:
                        out.append(f"{where}.{key}: expected a positive decimal string")
                if not isinstance(spec.get("currency"), str):
                    out.append(f"{where}.currency: expected an ISO currency code")
                continue
            prices = spec.get("prices")
            if not isinstance(prices, dict) or not prices:
                out.append(f'{where}.prices: expected {{CURRENCY: "9.99"}}')
                continue
            for cur, price in prices.items():
                if not isinstance(price, str) or parse_money(price) is None:
                    out.append(f'{where}.prices.{cur}: expected a decimal string like "9.99"')
        return out

    @staticmethod
    def store_id_problems(products: Mapping[str, Mapping[str, Any]]) -> list[str]:
        """Store product ids (``googleplay_product_id``) must be strings, one product each."""
        out: list[str] = []
        owners: dict[str, str] = {}
        for name, spec in products.items():
            value = spec.get("googleplay_product_id") if isinstance(spec, Mapping) else None
            if value is None:
                continue
            where = f"products.{name}.googleplay_product_id"
            if not isinstance(value, str) or not value.strip():
                out.append(f"{where}: expected the product id of Google Play Console")
            elif value in owners:
                out.append(f"{where}: {value!r} is already the id of products.{owners[value]}")
            else:
                owners[value] = name
        return out

    def get(self, name: str) -> Mapping[str, Any] | None:
        return self.products.get(name)

    def by_field(self, field: str, value: str) -> tuple[str, Mapping[str, Any]] | None:
        for name, spec in self.products.items():
            if spec.get(field) == value:
                return name, spec
        return None

    def price(self, product: Any, currency: Any, amount: Any) -> tuple[str, Decimal]:
        """(currency, amount) for a purchase, or InvalidParams explaining the refusal."""
        if not isinstance(product, str) or product not in self.products:
            raise InvalidParams(
                f"unknown product {product!r}" if isinstance(product, str) else "missing product"
            )
        spec = self.products[product]
        if spec["type"] == "top_up":
            cur = str(currency or spec["currency"]).upper()
            if cur != spec["currency"]:
                raise InvalidParams(f"unknown currency {cur!r} for {product}")
            value = parse_money(amount)
            if value is None:
                raise InvalidParams("invalid amount")
            low, high = parse_money(str(spec["min"])), parse_money(str(spec["max"]))
            assert low is not None and high is not None
            if not low <= value <= high:
                raise InvalidParams(f"amount must be between {spec['min']} and {spec['max']}")
            return cur, value
        prices: Mapping[str, str] = spec["prices"]
        cur = str(currency).upper() if currency else next(iter(prices))
        if cur not in prices:
            raise InvalidParams(f"unknown currency {cur!r} for {product}")
        listed = parse_money(prices[cur])
        assert listed is not None
        if amount is not None:
            given = parse_money(amount)
            if given is None or given != listed:
                raise InvalidParams(f"amount differs from the catalog price {prices[cur]} {cur}")
        return cur, listed

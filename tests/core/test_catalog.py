"""Catalog pricing: exact decimals, unknown products/currencies and wrong amounts refused."""

from __future__ import annotations

from decimal import Decimal

import pytest

from xbtcpay.core.catalog import Catalog
from xbtcpay.core.errors import InvalidParams

CATALOG = Catalog(
    {
        "premium_month": {
            "type": "subscription",
            "prices": {"USD": "9.99"},
            "braintree_plan": "premium-monthly",
        },
        "cake": {"type": "one_time", "prices": {"USD": "10.50", "BRL": "8.50"}},
    }
)


def test_listed_prices_are_exact() -> None:
    assert CATALOG.price("cake", "BRL", None) == ("BRL", Decimal("8.50"))
    assert CATALOG.price("cake", None, "10.5") == ("USD", Decimal("10.50"))
    assert CATALOG.price("cake", "usd", Decimal("10.50")) == ("USD", Decimal("10.50"))


def test_top_up_default_product_takes_amount_within_limits() -> None:
    assert CATALOG.price("buying_increase_balance", None, "25.5") == ("USD", Decimal("25.5"))
    for bad in ("0.5", "1000.01", "abc", 1.5, None):
        with pytest.raises(InvalidParams):
            CATALOG.price("buying_increase_balance", None, bad)


@pytest.mark.parametrize(
    ("product", "currency", "amount", "message"),
    [
        ("pie", None, None, "unknown product 'pie'"),
        (None, None, None, "missing product"),
        ("cake", "EUR", None, "unknown currency 'EUR' for cake"),
        ("cake", "USD", "10.49", "amount differs from the catalog price 10.50 USD"),
        (
            "buying_increase_balance",
            "EUR",
            "5",
            "unknown currency 'EUR' for buying_increase_balance",
        ),
    ],
)
def test_refusals_are_clear(
    product: object, currency: object, amount: object, message: str
) -> None:
    with pytest.raises(InvalidParams) as info:
        CATALOG.price(product, currency, amount)
    assert info.value.message == f"Invalid params: {message}"


def test_lookup_by_provider_id() -> None:
    found = CATALOG.by_field("braintree_plan", "premium-monthly")
    assert found is not None and found[0] == "premium_month"
    assert CATALOG.by_field("braintree_plan", "nope") is None

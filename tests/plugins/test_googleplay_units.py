"""Pure parts of the Google Play plugin: prices as exact Decimals, the amount rule, the
notification table, parsing of Google's answers."""

from __future__ import annotations

from decimal import Decimal

import pytest
from xbtcpay_googleplay.amounts import check_covers
from xbtcpay_googleplay.purchase import Purchase, Refused, from_product, from_subscription
from xbtcpay_googleplay.subscriptions import action_for


def _purchase(price: str | None, currency: str | None, quantity: int = 1) -> Purchase:
    return Purchase(
        token="t",
        product_id="p",
        kind="product",
        state="purchased",
        price=None if price is None else Decimal(price),
        currency=currency,
        quantity=quantity,
    )


def test_money_and_micros_are_exact() -> None:
    sub = from_subscription(
        "t",
        "gold",
        {
            "lineItems": [
                {
                    "productId": "gold",
                    "autoRenewingPlan": {
                        "recurringPrice": {"currencyCode": "usd", "units": "9", "nanos": 990000000}
                    },
                }
            ]
        },
    )
    assert (sub.price, sub.currency) == (Decimal("9.99"), "USD")
    product = from_product(
        "t",
        "coins",
        {
            "purchaseState": 0,
            "productId": "coins",
            "priceAmountMicros": "4990000",
            "priceCurrencyCode": "EUR",
        },
    )
    assert (product.price, product.currency) == (Decimal("4.99"), "EUR")
    yen = from_subscription(
        "t",
        None,
        {
            "lineItems": [
                {
                    "productId": "g",
                    "autoRenewingPlan": {
                        "recurringPrice": {"currencyCode": "JPY", "units": "1200"}
                    },
                }
            ]
        },
    )
    assert yen.price == Decimal(1200)


@pytest.mark.parametrize(
    ("price", "currency", "quantity", "refused"),
    [
        ("9.99", "USD", 1, None),
        ("10.00", "USD", 1, None),
        (None, None, 1, None),
        ("9.989999", "USD", 1, "below the catalog price"),
        ("9.99", "EUR", 1, "charged in EUR"),
        ("4.995", "USD", 2, None),
        ("4.99", "USD", 2, "below the catalog price"),
    ],
)
def test_amount_rule(
    price: str | None, currency: str | None, quantity: int, refused: str | None
) -> None:
    purchase = _purchase(price, currency, quantity)
    if refused is None:
        check_covers(purchase, "USD", Decimal("9.99"))
    else:
        with pytest.raises(Refused, match=refused):
            check_covers(purchase, "USD", Decimal("9.99"))


def test_subscription_notification_table() -> None:
    assert [(t, action_for(t)) for t in range(1, 21)] == [
        (1, "pay"),
        (2, "pay"),
        (3, "canceled"),
        (4, "pay"),
        (5, "failed"),
        (6, None),
        (7, "pay"),
        (8, None),
        (9, None),
        (10, None),
        (11, None),
        (12, "revoke"),
        (13, "expired"),
        (14, None),
        (15, None),
        (16, None),
        (17, None),
        (18, None),
        (19, None),
        (20, "cancel_pending"),
    ]


def test_product_answers_are_read_defensively() -> None:
    assert from_product("t", "p", {}).state == "unknown"  # never "purchased" by default
    assert from_product("t", "p", {"purchaseState": 0, "purchaseType": 0}).test is True
    assert from_product("t", "p", {"purchaseState": 0}).test is False
    with pytest.raises(Refused, match="for product q"):
        from_product("t", "p", {"purchaseState": 0, "productId": "q"})
    with pytest.raises(Refused, match="not p"):
        from_subscription("t", "p", {"lineItems": [{"productId": "q"}]})
    with pytest.raises(Refused):
        from_product("t", "p", [])

"""Pure parts: minor units per currency, GST, config of the commerce sections, requests."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest

from tests.commerce.setup import commerce
from tests.harness import base_config
from xbtcpay.app.config import parse_config
from xbtcpay.commerce.currencies import Currencies
from xbtcpay.commerce.purchases.requests import (
    RAW_CARD_MESSAGE,
    from_params,
    from_purchase_endpoint,
    looks_like_pan,
)
from xbtcpay.commerce.purchases.responses import (
    ERROR_CODES,
    PaymentResponse,
    PurchaseRefused,
    answer,
)
from xbtcpay.commerce.taxes import TaxRate, split
from xbtcpay.core.errors import ConfigError

GST = TaxRate("AU", Decimal("0.10"), inclusive=True)


def test_minor_units_follow_iso_4217_and_configured_virtual_currencies() -> None:
    table = Currencies({"diamonds": 0, "credits": 2})
    assert [
        (c, table.parse(c, a))
        for c, a in (
            ("AUD", "11.00"),
            ("jpy", "500"),
            ("KWD", "1.234"),
            ("diamonds", "100"),
            ("credits", "0.5"),
        )
    ] == [("AUD", 1100), ("jpy", 500), ("KWD", 1234), ("diamonds", 100), ("credits", 50)]
    for code, amount in (
        ("AUD", "1.001"),
        ("JPY", "1.5"),
        ("diamonds", "0.5"),
        ("AUD", "-1"),
        ("AUD", "0"),
        ("AUD", "1e3"),
        ("AUD", 1.5),
        ("XXQ", "1"),
        ("AUD", "10000000000000.01"),
        ("AUD", " 1"),
    ):
        with pytest.raises(ValueError):
            table.parse(code, amount)
    assert table.parse("AUD", "-2.50", allow_negative=True) == -250
    aud = table.get("aud")
    assert aud is not None and aud.format(-5) == "-0.05" and aud.format(1100) == "11.00"


@pytest.mark.parametrize(
    ("total", "tax"),
    [
        (1100, 100),
        (1000, 91),
        (5, 0),
        (6, 1),
        (55, 5),
        (165, 15),
        (1, 0),
        (11, 1),
        (16, 1),
        (17, 2),
        (99999, 9091),
        (-1100, -100),
        (-16, -1),
    ],
)
def test_gst_is_one_eleventh_rounded_half_even(total: int, tax: int) -> None:
    amounts = split(total, GST)
    assert (amounts.total, amounts.tax, amounts.less_tax) == (total, tax, total - tax)


def test_half_even_rounding_on_exact_halves() -> None:
    # 5.5 cents of tax: rounds to the even 6; 16.5 rounds to 16 (not up to 17)
    assert split(6050, TaxRate("XX", Decimal("0.10"), inclusive=True)).tax == 550
    assert split(55, TaxRate("XX", Decimal("0.10"), inclusive=False)).tax == 6  # 5.5 -> 6
    assert split(165, TaxRate("XX", Decimal("0.10"), inclusive=False)).tax == 16  # 16.5 -> 16
    assert split(1000, TaxRate("XX", Decimal("0.10"), inclusive=False)).total == 1100
    assert split(1000, None).tax == 0


def test_commerce_config_is_validated_line_by_line(tmp_path: Path) -> None:
    config = parse_config(base_config(tmp_path, commerce()), tmp_path / "c.yaml").commerce
    assert config.company().receipt_prefix == "XB-" and config.taxes["AU"].rate == Decimal("0.10")
    assert config.currencies().get("diamonds") is not None
    bad = commerce(
        sessions={"secret": "short", "algorithms": ["none"]},
        currencies={"usd": {"decimals": 2}, "gems": {"decimals": 40}},
        companies={"x": {"tax_id": 5}},
        taxes={"AU": {"rate": 0.1}},
    )
    with pytest.raises(ConfigError) as err:
        parse_config(base_config(tmp_path, bad), tmp_path / "c.yaml")
    problems = err.value.problems
    assert any(p.startswith("sessions.algorithms:") for p in problems)
    assert any(p.startswith("currencies.usd:") for p in problems)
    assert any(p.startswith("currencies.gems.decimals:") for p in problems)
    assert any(p.startswith("companies.x.name:") for p in problems)
    assert any(p.startswith("taxes.AU.rate:") for p in problems)
    with pytest.raises(ConfigError) as err:
        parse_config(
            base_config(tmp_path, commerce(sessions={"secret": "short"})), tmp_path / "c.yaml"
        )
    assert err.value.problems == ["sessions.secret: at least 32 bytes"]
    prices = commerce(
        products={
            "a": {"type": "one_time", "prices": {"JPY": "100.50"}},
            "b": {"type": "one_time", "prices": {"gems": "1"}},
            "c": {"type": "one_time", "prices": {"AUD": "1"}, "company": "nope"},
        }
    )
    with pytest.raises(ConfigError) as err:
        parse_config(base_config(tmp_path, prices), tmp_path / "c.yaml")
    assert err.value.problems == [
        "products.a.prices.JPY: JPY has 0 decimals",
        "products.b.prices.gems: not an ISO 4217 currency nor one of currencies",
        "products.c.company: not one of companies",
    ]


def test_raw_card_numbers_are_refused_without_being_repeated() -> None:
    number = "4111111111111111"
    builds: list[Callable[[], object]] = [
        lambda: from_purchase_endpoint(
            {
                "PurchaseToken": "tok-raw-00001",
                "Card": {"Number": number, "Month": 1, "Year": 30, "CCV": "123"},
                "Product": {"Token": "gem_pack"},
            },
            "alice",
        ),
        lambda: from_params(
            {
                "customer": "alice",
                "product": "gem_pack",
                "purchase_token": "tok-raw-00002",
                "card": {"number": number},
            }
        ),
    ]
    for build in builds:
        with pytest.raises(PurchaseRefused) as refused:
            build()
        assert refused.value.response is PaymentResponse.RAW_CARD_REFUSED
        assert number not in refused.value.message and "tokenize" in RAW_CARD_MESSAGE
        body = answer(refused.value.response, refused.value.message)
        assert body["ErrorCode"] == "E205" and number not in str(body)


@pytest.mark.parametrize(
    ("text", "pan"),
    [
        ("4111111111111111", True),
        ("4111 1111 1111 1111", True),
        ("4111-1111-1111-1111", True),
        ("tok-5555555555554444-x", True),  # inside other text
        ("378282246310005", True),  # 15 digits
        ("4111111111111112", False),  # Luhn-invalid
        ("41111111111111110000", False),  # 20 digits: longer than any card number
        ("12345678901", False),  # 11 digits
        ("4111  1111 1111 1111", False),  # two spaces: not one number
        ("tok-purchase-0001", False),
    ],
)
def test_what_looks_like_a_card_number(text: str, pan: bool) -> None:
    assert looks_like_pan(text) is pan


def test_a_card_number_in_any_field_or_card_spelling_is_refused() -> None:
    number = "4111111111111111"
    base = {"customer": "alice", "product": "gem_pack", "purchase_token": "tok-raw-00003"}
    for extra in (
        {"card": {"card_number": number}, "use_stored_card": True},
        {"Card": {"CardNumber": number}, "use_stored_card": True},
        {"Card": {"pan": "4111 1111 1111 1111"}, "use_stored_card": True},
        {"purchase_token": number, "use_stored_card": True},
        {"purchase_token": int(number), "use_stored_card": True},
        {"use_balance": True, "amount": Decimal(number + ".0")},
        {"use_balance": True, "note": {"deep": [number]}},
        {"use_balance": True, number: "as a key"},
    ):
        with pytest.raises(PurchaseRefused) as refused:
            from_params({**base, **extra})
        assert refused.value.response is PaymentResponse.RAW_CARD_REFUSED
        assert refused.value.message == RAW_CARD_MESSAGE
    assert from_params({**base, "use_balance": True, "card": None}).source == "balance"


def test_purchase_endpoint_names_map_onto_one_request() -> None:
    req = from_purchase_endpoint(
        {
            "PurchaseToken": "tok-purchase-0001",
            "Product": {"Token": "gem_pack"},
            "Token": {"Type": "ApplePay", "Token": "apple-pay-blob"},
        },
        "alice",
    )
    assert (req.source, req.wallet, req.token, req.product) == (
        "wallet",
        "ApplePay",
        "apple-pay-blob",
        "gem_pack",
    )
    req = from_purchase_endpoint(
        {
            "PurchaseToken": "tok-purchase-0002",
            "Product": {"Token": "gem_pack"},
            "UseDiamonds": True,
        },
        "alice",
    )
    assert (req.source, req.currency) == ("balance", "virtual")
    req = from_purchase_endpoint(
        {
            "PurchaseToken": "tok-purchase-0003",
            "Product": {"Token": "gem_pack"},
            "UseStoredCard": True,
            "Card": {"Number": ""},
        },
        "alice",
    )
    assert req.source == "stored_card"
    with pytest.raises(PurchaseRefused):
        from_purchase_endpoint(
            {
                "PurchaseToken": "tok-purchase-0004",
                "Product": {"Token": "gem_pack"},
                "Token": {"Type": "SamsungPay", "Token": "x"},
            },
            "alice",
        )


def test_every_payment_response_has_its_own_error_code() -> None:
    assert [(r.value, ERROR_CODES[r]) for r in PaymentResponse] == [
        ("Success", ""),
        ("InsufficientBalance", "E101"),
        ("CardDeclined", "E102"),
        ("NoStoredCard", "E103"),
        ("TokenAcquisitionFailed", "E104"),
        ("ProviderError", "E105"),
        ("Pending", "E106"),
        ("InvalidProduct", "E201"),
        ("InvalidCurrency", "E202"),
        ("InvalidRequest", "E203"),
        ("DuplicatePurchase", "E204"),
        ("RawCardRefused", "E205"),
    ]

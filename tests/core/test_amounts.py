"""Exact amounts: the original's validation rule and formatting."""

from __future__ import annotations

from decimal import Decimal

import pytest

from xbtcpay.core.amounts import format_amount, from_base_units, parse_amount, to_base_units

MAX = Decimal(20999984)


@pytest.mark.parametrize("text", ["1", "0.00000001", "222.333", "20999984", "12345678.12345678"])
def test_valid_amounts(text: str) -> None:
    assert parse_amount(text, decimals=8, max_amount=MAX, max_int_digits=8) == Decimal(text)


@pytest.mark.parametrize(
    "value",
    [
        "0",
        "0.0",
        "-1",
        "-0",
        "+1",
        "1e3",
        "1E3",
        "NaN",
        "Infinity",
        " 1",
        "1 ",
        "1.",
        ".5",
        "1.123456789",
        "20999984.00000001",
        "123456789",
        "0x10",
        "１",
        "1_000",
        "",
        1,
        1.5,
        None,
        True,
        [],
        {},
        Decimal(1),
    ],
)
def test_invalid_amounts(value: object) -> None:
    assert parse_amount(value, decimals=8, max_amount=MAX, max_int_digits=8) is None


def test_format_like_ruby_bigdecimal() -> None:
    assert format_amount(Decimal(10)) == "10.0"
    assert format_amount(Decimal("1.50")) == "1.5"
    assert format_amount(Decimal("222.333")) == "222.333"
    assert format_amount(Decimal("0.00000001")) == "0.00000001"
    assert format_amount(Decimal(20999984)) == "20999984.0"


def test_base_units_roundtrip() -> None:
    assert to_base_units(Decimal("1.5"), 8) == 150_000_000
    assert from_base_units(150_000_000, 8) == Decimal("1.5")
    with pytest.raises(ValueError):
        to_base_units(Decimal("0.000000001"), 8)

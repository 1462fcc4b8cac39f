"""Voucher rules: hashing, grants, windows, the failure limiter (pure)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from xbtcpay.commerce.media_access.vouchers import (
    Voucher,
    attempts_in_window,
    code_hash,
    discounted,
    normalize_code,
    parse_grants,
    refusal,
    same_hash,
)
from xbtcpay.core.errors import InvalidParams

PRODUCTS = {
    "premium": {"type": "subscription", "prices": {"EUR": "9.99"}},
    "movie42": {"type": "ownage", "prices": {"EUR": "4.99"}},
    "gem": {"type": "one_time", "prices": {"EUR": "1.00"}},
}


def test_codes_are_hashed_and_normalised() -> None:
    digest = code_hash(normalize_code("  summer-2026 "))
    assert digest == code_hash("SUMMER-2026") and "SUMMER" not in digest
    assert code_hash("ABCD", "code") != code_hash("ABCD", "reference")
    assert same_hash(digest, code_hash("SUMMER-2026")) and not same_hash(None, digest)
    for bad in ("abc", "x" * 65, "has space", 1234, None):
        with pytest.raises(InvalidParams):
            normalize_code(bad)


def test_grants() -> None:
    assert parse_grants({"product": "premium"}, PRODUCTS) == {"product": "premium"}
    assert parse_grants({"balance": {"currency": "eur", "amount": "5.00"}}, PRODUCTS) == {
        "balance": {"currency": "EUR", "amount": "5.00"}
    }
    assert parse_grants({"discount": {"product": "movie42", "percent": "50"}}, PRODUCTS) == {
        "discount": {"product": "movie42", "percent": "50"}
    }
    for bad in (
        {},
        {"product": "nope"},
        {"product": "gem"},
        {"balance": {"currency": "EUR"}},
        {"balance": {"currency": "EUR", "amount": 5}},
        {"balance": {"currency": "EUR", "amount": "1.001"}},
        {"discount": {"product": "movie42", "percent": "150"}},
        {"discount": {"product": "movie42", "percent": "5", "amount": "1"}},
        {"product": "premium", "balance": {}},
    ):
        with pytest.raises(InvalidParams):
            parse_grants(bad, PRODUCTS)


def test_discounts_are_exact() -> None:
    assert discounted(Decimal("4.99"), {"percent": "50"}, 2) == Decimal("2.50")  # half-even
    assert discounted(Decimal("4.99"), {"amount": "10"}, 2) == Decimal("0.00")


def test_windows_and_disabled() -> None:
    v = Voucher(1, "h", None, {}, 100, 200, None, None, 0, False, 0)
    assert refusal(None, 150) == "unknown voucher code"
    assert refusal(v, 99) == "voucher not valid yet"
    assert refusal(v, 150) is None
    assert refusal(v, 200) == "voucher expired"
    assert (
        refusal(Voucher(1, "h", None, {}, None, None, None, None, 0, True, 0), 1)
        == "voucher disabled"
    )


def test_attempt_window() -> None:
    times = [900.0, 941.0, 999.5, 1000.0]
    assert attempts_in_window(times, 1000.0, 60) == [941.0, 999.5, 1000.0]
    assert attempts_in_window(times, 1000.5, 60) == [941.0, 999.5, 1000.0]
    assert attempts_in_window(times, 1001.0, 60) == [999.5, 1000.0]  # 941 left at 1001
    assert attempts_in_window(times, 1060.0, 60) == []
    assert attempts_in_window([], 1000.0, 60) == []


class ComparedWithEquals(str):
    """A stored hash that fails the test when compared with ``==`` (early exit, not
    constant time) instead of ``hmac.compare_digest``."""

    def __eq__(self, other: object) -> bool:
        raise AssertionError("hashes compared with ==, not in constant time")

    def __ne__(self, other: object) -> bool:
        raise AssertionError("hashes compared with !=, not in constant time")

    __hash__ = str.__hash__


def test_hashes_are_compared_in_full_and_in_constant_time() -> None:
    digest, other = code_hash("SUMMER-2026"), code_hash("WINTER-2026")
    last = "0" if digest[-1] != "0" else "1"
    assert same_hash(digest, digest)
    assert not same_hash(other, digest)  # any stored hash is not a match
    assert not same_hash(digest[:-1] + last, digest)  # nor one differing in its last digit
    assert not same_hash(None, digest)
    assert same_hash(ComparedWithEquals(digest), digest)
    assert not same_hash(ComparedWithEquals(other), digest)

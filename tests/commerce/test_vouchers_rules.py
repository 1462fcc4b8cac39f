"""Voucher rules: hashing, grants, windows, the failure limiter (pure)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from xbtcpay.commerce.media_access.vouchers import (
    FailureLimiter,
    Voucher,
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


def test_failure_limiter_window() -> None:
    now = [1000.0]
    limiter = FailureLimiter(3, 60, clock=lambda: now[0])
    for _ in range(3):
        assert not limiter.blocked("customer:a", "ip:1")
        limiter.record("customer:a", "ip:1")
    assert limiter.blocked("customer:a") and limiter.blocked("ip:1")
    assert limiter.blocked("customer:b", "ip:1")  # same address, other customer
    assert not limiter.blocked("customer:b", "ip:2")
    now[0] += 61
    assert not limiter.blocked("customer:a", "ip:1")

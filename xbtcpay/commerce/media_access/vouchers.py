"""Vouchers: codes kept only as hashes, what a voucher grants, and when it may be redeemed.

A voucher grants one of: a product (its entitlement, or one period of a subscription product),
balance credit ``{balance: {currency, amount}}``, or a discount on a product's next purchase
``{discount: {product, percent | amount}}``. Pure functions; the store redeems race-free.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from xbtcpay.commerce.currencies import Currencies
from xbtcpay.core.amounts import parse_money
from xbtcpay.core.errors import InvalidParams

_CODE = re.compile(r"^[A-Za-z0-9_-]{4,64}\Z")


@dataclass(frozen=True)
class Voucher:
    id: int
    code_hash: str | None
    reference_hash: str | None
    grants: Mapping[str, Any]
    valid_from: int | None
    valid_until: int | None
    max_uses: int | None
    max_uses_per_customer: int | None
    uses: int
    disabled: bool
    created_at: int


def normalize_code(code: Any, what: str = "code") -> str:
    """Codes are typed by people: surrounding spaces are dropped, case does not matter."""
    if not isinstance(code, str) or not _CODE.match(code.strip()):
        raise InvalidParams(f"invalid {what} (4-64 letters, digits, '-' or '_')")
    return code.strip().upper()


def code_hash(code: str, kind: str = "code") -> str:
    """The stored form of a code; a voucher code and a reference code never collide."""
    return hashlib.sha256(f"xbtcpay-voucher-{kind}:{code}".encode()).hexdigest()


def same_hash(stored: str | None, given: str) -> bool:
    """Constant-time comparison of a stored hash with the hash of the code given."""
    return stored is not None and hmac.compare_digest(stored, given)


def parse_grants(
    raw: Any, products: Mapping[str, Mapping[str, Any]], currencies: Currencies | None = None
) -> dict[str, Any]:
    """Validate ``grants`` of ``voucher.create``; the normalised form is what is stored."""
    if not isinstance(raw, dict) or len(raw) != 1:
        raise InvalidParams("grants must be one of {product}, {balance}, {discount}")
    ((kind, value),) = raw.items()
    if kind == "product":
        if not isinstance(value, str) or value not in products:
            raise InvalidParams("grants.product: unknown product")
        if products[value].get("type") not in ("subscription", "ownage", "ppv"):
            raise InvalidParams("grants.product: not a subscription, ownage or ppv product")
        return {"product": value}
    if kind == "balance":
        return {"balance": _balance(value, currencies or Currencies())}
    if kind == "discount":
        return {"discount": _discount(value, products)}
    raise InvalidParams("grants must be one of {product}, {balance}, {discount}")


def _balance(value: Any, currencies: Currencies) -> dict[str, str]:
    if not isinstance(value, dict):
        raise InvalidParams("grants.balance: expected {currency, amount}")
    currency = currencies.get(value.get("currency"))
    if currency is None:
        raise InvalidParams("grants.balance.currency: not an ISO 4217 or configured currency")
    amount = value.get("amount")
    try:
        units = currency.to_minor(Decimal(amount)) if isinstance(amount, str) else 0
    except (ValueError, ArithmeticError):
        units = 0
    if units <= 0:
        raise InvalidParams(
            "grants.balance.amount: a positive decimal string with at most "
            f"{currency.decimals} decimals"
        )
    return {"currency": currency.code, "amount": currency.format(units)}


def _discount(value: Any, products: Mapping[str, Mapping[str, Any]]) -> dict[str, str]:
    if (
        not isinstance(value, dict)
        or not isinstance(value.get("product"), str)
        or value["product"] not in products
    ):
        raise InvalidParams("grants.discount: expected {product, percent | amount}")
    if ("percent" in value) == ("amount" in value):
        raise InvalidParams("grants.discount: exactly one of percent or amount")
    if "percent" in value:
        percent = parse_money(value["percent"]) if isinstance(value["percent"], str) else None
        if percent is None or percent > 100:
            raise InvalidParams("grants.discount.percent: a decimal string in (0, 100]")
        return {"product": value["product"], "percent": format(percent, "f")}
    amount = parse_money(value["amount"]) if isinstance(value["amount"], str) else None
    if amount is None:
        raise InvalidParams("grants.discount.amount: expected a positive decimal string")
    return {"product": value["product"], "amount": format(amount, "f")}


def discounted(price: Decimal, discount: Mapping[str, str], places: int) -> Decimal:
    """``price`` after a discount, rounded half-even to ``places``, never below zero."""
    if "percent" in discount:
        off = price * Decimal(discount["percent"]) / 100
    else:
        off = Decimal(discount["amount"])
    return max(Decimal(0), price - off).quantize(Decimal(1).scaleb(-places))


def refusal(voucher: Voucher | None, now: int) -> str | None:
    """Why ``voucher`` cannot be redeemed at ``now`` (before counting uses), or None."""
    if voucher is None:
        return "unknown voucher code"
    if voucher.disabled:
        return "voucher disabled"
    if voucher.valid_from is not None and now < voucher.valid_from:
        return "voucher not valid yet"
    if voucher.valid_until is not None and now >= voucher.valid_until:
        return "voucher expired"
    return None


def attempts_in_window(times: list[float], now: float, window: float) -> list[float]:
    """The attempts of ``times`` that still count at ``now`` (the last ``window`` seconds)."""
    return [t for t in times if t > now - window]

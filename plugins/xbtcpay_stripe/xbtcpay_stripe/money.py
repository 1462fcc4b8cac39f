"""Exact conversion between decimal amounts and Stripe's integer minor units."""

from __future__ import annotations

from decimal import Decimal

# Stripe's zero-decimal and three-decimal currencies (docs: "Supported currencies").
ZERO_DECIMAL = frozenset(
    {
        "bif",
        "clp",
        "djf",
        "gnf",
        "jpy",
        "kmf",
        "krw",
        "mga",
        "pyg",
        "rwf",
        "ugx",
        "vnd",
        "vuv",
        "xaf",
        "xof",
        "xpf",
    }
)
THREE_DECIMAL = frozenset({"bhd", "jod", "kwd", "omr", "tnd"})


def exponent(currency: str) -> int:
    """Number of decimals Stripe uses for ``currency``."""
    cur = currency.lower()
    return 0 if cur in ZERO_DECIMAL else 3 if cur in THREE_DECIMAL else 2


def to_minor(amount: Decimal, currency: str) -> int:
    """Exact minor units; ValueError when ``amount`` has more decimals than the currency."""
    scaled = amount.scaleb(exponent(currency))
    if scaled != scaled.to_integral_value():
        raise ValueError(f"{amount} {currency.upper()} has too many decimals")
    return int(scaled)


def from_minor(units: int, currency: str) -> Decimal:
    """The decimal amount of ``units`` minor units."""
    return Decimal(int(units)).scaleb(-exponent(currency))

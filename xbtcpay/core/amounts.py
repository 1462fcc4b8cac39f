"""Exact money: decimal strings in, integer base units and decimal strings out. No floats."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation, localcontext
from typing import Final

_PLAIN: Final = re.compile(r"^(?P<int>[0-9]+)(?:\.(?P<frac>[0-9]+))?\Z")
MAX_DIGITS: Final = 40


def parse_amount(
    value: object, *, decimals: int, max_amount: Decimal | None, max_int_digits: int | None = None
) -> Decimal | None:
    """Parse a plain decimal string as the original did; ``None`` when invalid.

    Only ``digits[.digits]`` is accepted: no sign, exponent, spaces, NaN or numbers
    (a JSON number is refused because a float cannot carry money exactly). The value
    must be > 0, have at most ``decimals`` fractional digits and not exceed ``max_amount``.
    """
    if not isinstance(value, str) or len(value) > 2 * MAX_DIGITS + 1:
        return None
    match = _PLAIN.fullmatch(value)  # match() would let "$" accept a trailing newline
    if match is None:
        return None
    int_part, frac = match.group("int"), match.group("frac") or ""
    int_limit = max_int_digits if max_int_digits is not None else MAX_DIGITS
    if len(int_part) > int_limit or len(frac) > decimals:
        return None
    amount = to_decimal(value)
    if amount <= 0 or (max_amount is not None and amount > max_amount):
        return None
    return amount


def parse_money(value: object, *, decimals: int = 2) -> Decimal | None:
    """Parse a fiat amount given as a string, an int or an exact JSON decimal."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        value = str(value)
    elif isinstance(value, Decimal):
        if not value.is_finite():
            return None
        value = format(value, "f")
    return parse_amount(value, decimals=decimals, max_amount=None, max_int_digits=15)


def to_decimal(text: str) -> Decimal:
    """Exact Decimal of a stored decimal string (wide context: no rounding)."""
    with localcontext() as ctx:
        ctx.prec = 100
        try:
            return +Decimal(text)
        except InvalidOperation as exc:  # pragma: no cover - stored values are validated
            raise ValueError(f"not a decimal: {text!r}") from exc


def to_base_units(amount: Decimal, decimals: int) -> int:
    """Integer base units of ``amount`` (exact; raises if it does not fit ``decimals``)."""
    scaled = amount.scaleb(decimals)
    if scaled != scaled.to_integral_value():
        raise ValueError(f"{amount} has more than {decimals} decimals")
    return int(scaled)


def from_base_units(units: int, decimals: int) -> Decimal:
    """Decimal amount of ``units`` base units."""
    with localcontext() as ctx:
        ctx.prec = 100
        return Decimal(units).scaleb(-decimals)


def format_amount(amount: Decimal) -> str:
    """Plain decimal string as the original printed it (Ruby ``BigDecimal#to_s("F")``).

    Trailing zeros are dropped and a whole number keeps one decimal: 10 -> "10.0".
    """
    text = format(amount.normalize() if amount != 0 else Decimal(0), "f")
    return text if "." in text else text + ".0"


def format_money(amount: Decimal, decimals: int = 2) -> str:
    """Fiat amount with a fixed number of decimals: 10.5 -> "10.50"."""
    return format(amount.quantize(Decimal(1).scaleb(-decimals)), "f")

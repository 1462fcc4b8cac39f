"""Tax on a receipt: configured rates per country, inclusive or exclusive, exact to the cent.

Australian GST is 10% included in the price: Tax = Total * 0.10 / 1.10 = Total / 11,
rounded half-even to the currency's minor unit; AmountLessTax = Total - Tax.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal, localcontext


@dataclass(frozen=True)
class TaxRate:
    country: str
    rate: Decimal  # 0.10 for 10 %
    inclusive: bool = True


@dataclass(frozen=True)
class TaxSplit:
    """A receipt's amounts in minor units: total = tax + less_tax."""

    total: int
    tax: int
    less_tax: int
    rate: Decimal


def split(price: int, rate: TaxRate | None) -> TaxSplit:
    """Total, tax and amount less tax (minor units) of a line priced ``price``.

    Inclusive rates take the tax out of the price; exclusive rates add it on top.
    """
    if rate is None or rate.rate == 0:
        return TaxSplit(price, 0, price, Decimal(0))
    with localcontext() as ctx:
        ctx.prec = 50
        if rate.inclusive:
            tax = _round(Decimal(price) * rate.rate / (1 + rate.rate))
            return TaxSplit(price, tax, price - tax, rate.rate)
        tax = _round(Decimal(price) * rate.rate)
        return TaxSplit(price + tax, tax, price, rate.rate)


def _round(value: Decimal) -> int:
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_EVEN))

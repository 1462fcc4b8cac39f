"""Money in integer minor units per currency: ISO 4217 fiat currencies and the virtual
currencies declared in config (``currencies: {diamonds: {decimals: 0}}``).

Amounts cross the API as plain decimal strings and are stored as integers of the currency's
minor unit (cents for AUD, whole diamonds for ``diamonds``). No floats anywhere.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Final

from xbtcpay.core.amounts import from_base_units, to_base_units

# Active ISO 4217 codes whose minor unit is not 2 digits; every other listed code has 2.
_EXPONENTS: Final[dict[str, int]] = {
    "BIF": 0,
    "CLP": 0,
    "DJF": 0,
    "GNF": 0,
    "ISK": 0,
    "JPY": 0,
    "KMF": 0,
    "KRW": 0,
    "PYG": 0,
    "RWF": 0,
    "UGX": 0,
    "UYI": 0,
    "VND": 0,
    "VUV": 0,
    "XAF": 0,
    "XOF": 0,
    "XPF": 0,
    "BHD": 3,
    "IQD": 3,
    "JOD": 3,
    "KWD": 3,
    "LYD": 3,
    "OMR": 3,
    "TND": 3,
    "CLF": 4,
    "UYW": 4,
}
_TWO_DIGIT: Final[str] = (
    "AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BMD BND BOB BOV BRL BSD BTN BWP "
    "BYN BZD CAD CDF CHE CHF CHW CNY COP COU CRC CUP CVE CZK DKK DOP DZD EGP ERN ETB EUR FJD "
    "FKP GBP GEL GHS GIP GMD GTQ GYD HKD HNL HTG HUF IDR ILS INR IRR JMD KES KGS KHR KPW KYD "
    "KZT LAK LBP LKR LRD LSL MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD "
    "NGN NIO NOK NPR NZD PAB PEN PGK PHP PKR PLN QAR RON RSD RUB SAR SBD SCR SDG SEK SGD SHP "
    "SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT TOP TRY TTD TWD TZS UAH USD USN UYU UZS VED "
    "VES WST XCD YER ZAR ZMW ZWG"
)
ISO_4217: Final[Mapping[str, int]] = {**{c: 2 for c in _TWO_DIGIT.split()}, **_EXPONENTS}
VIRTUAL_NAME: Final = re.compile(r"^[a-z][a-z0-9_]{0,31}\Z")
MAX_MINOR: Final = 10**15  # far above any real price, far below a 64-bit integer


@dataclass(frozen=True)
class Currency:
    """One currency: ``code`` as written in prices and balances, ``decimals`` of its minor
    unit, ``virtual`` for the shop's own currencies (no tax, not chargeable by a card)."""

    code: str
    decimals: int
    virtual: bool = False

    def to_minor(self, amount: Decimal) -> int:
        """Exact minor units of ``amount``; ValueError if it has too many decimals."""
        return to_base_units(amount, self.decimals)

    def from_minor(self, units: int) -> Decimal:
        return from_base_units(units, self.decimals)

    def format(self, units: int) -> str:
        """Decimal string with exactly ``decimals`` fractional digits: 1100 -> "11.00"."""
        sign, magnitude = ("-" if units < 0 else ""), abs(units)
        if self.decimals == 0:
            return f"{sign}{magnitude}"
        whole, frac = divmod(magnitude, 10**self.decimals)
        return f"{sign}{whole}.{frac:0{self.decimals}d}"


class Currencies:
    """The ISO 4217 table plus the configured virtual currencies."""

    def __init__(self, virtual: Mapping[str, int] | None = None) -> None:
        self._virtual = {
            name: Currency(name, decimals, True) for name, decimals in (virtual or {}).items()
        }

    def get(self, code: object) -> Currency | None:
        """The currency named ``code`` (ISO codes in any case, virtual ones as configured)."""
        if not isinstance(code, str):
            return None
        if code in self._virtual:
            return self._virtual[code]
        upper = code.upper()
        if upper in ISO_4217:
            return Currency(upper, ISO_4217[upper])
        return self._virtual.get(code.lower())

    def virtual(self) -> list[Currency]:
        return list(self._virtual.values())

    def parse(self, code: object, amount: object, *, allow_negative: bool = False) -> int:
        """Minor units of a decimal string ``amount`` in ``code``; ValueError explains."""
        currency = self.get(code)
        if currency is None:
            raise ValueError(f"unknown currency {code!r}")
        return parse_minor(currency, amount, allow_negative=allow_negative)


_DECIMAL_TEXT: Final = re.compile(r"^(-?)([0-9]{1,16})(?:\.([0-9]{1,36}))?\Z")


def parse_minor(currency: Currency, amount: object, *, allow_negative: bool = False) -> int:
    """Minor units of ``amount`` (a decimal string, or an integer for 0-decimal currencies)."""
    if isinstance(amount, int) and not isinstance(amount, bool):
        amount = str(amount)
    match = _DECIMAL_TEXT.match(amount) if isinstance(amount, str) else None
    if match is None:
        raise ValueError('amount must be a decimal string such as "11.00"')
    sign, whole, frac = match.group(1), match.group(2), match.group(3) or ""
    if len(frac) > currency.decimals:
        raise ValueError(f"{currency.code} has {currency.decimals} decimals")
    units = int(whole) * 10**currency.decimals + int(frac.ljust(currency.decimals, "0") or 0)
    if sign:
        units = -units
    if units == 0 or (units < 0 and not allow_negative):
        raise ValueError("amount must be positive" if not allow_negative else "amount is zero")
    if abs(units) > MAX_MINOR:
        raise ValueError("amount is too large")
    return int(units)

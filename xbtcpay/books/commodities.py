"""Beancount commodity names for xbtcpay's asset and currency names.

A beancount commodity is upper case, starts with a letter, ends with a letter or digit, and
is at most 24 characters of ``A-Z 0-9 ' . _ -``. ``0xbtc`` starts with a digit, so it has a
fixed name; every other name is upper-cased, with any other character made ``-`` and an
``X`` put in front of a leading digit. Two names that would meet on one commodity are
refused, never merged (docs/books.md, "Commodities").
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from xbtcpay.core.errors import InvalidParams

FIXED = {"0xbtc": "XBTC"}
VALID = re.compile(r"^[A-Z][A-Z0-9'._-]{0,22}[A-Z0-9]\Z")


def commodity(name: str) -> str:
    """The commodity of an asset (``0xbtc``, ``eth``, ``usdc_base``) or currency (``AUD``)."""
    fixed = FIXED.get(name.lower())
    if fixed is not None:
        return fixed
    text = re.sub(r"[^A-Z0-9'._-]", "-", name.upper())
    if not text[:1].isalpha():
        text = "X" + text
    if not text[-1:].isalnum():
        text += "X"
    return text[:24] if text[:24][-1].isalnum() else text[:23] + "X"


def commodities(names: Iterable[str]) -> dict[str, str]:
    """``{xbtcpay name: commodity}``; two names mapping to one commodity are refused."""
    out: dict[str, str] = {}
    taken: dict[str, str] = {}
    for name in sorted(set(names)):
        mapped = commodity(name)
        assert VALID.match(mapped), mapped
        other = taken.get(mapped)
        if other is not None and other != name:
            raise InvalidParams(
                f"assets {other!r} and {name!r} would share the commodity {mapped}: rename one"
            )
        taken[mapped] = name
        out[name] = mapped
    return out

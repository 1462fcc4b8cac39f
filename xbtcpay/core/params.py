"""Validation of the parameters every payment-creating method shares (core and plugins)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from xbtcpay.core.amounts import parse_money
from xbtcpay.core.errors import InvalidParams
from xbtcpay.core.jsonio import dumps
from xbtcpay.core.postback import valid_postback_url
from xbtcpay.core.postback_target import refused_url

MAX_DATA_BYTES = 65536
_CURRENCY = re.compile(r"^[A-Za-z]{3}\Z")


def data_text(value: Any) -> str:
    """The shop's ``data`` as JSON text, stored as the original did (``null`` when absent)."""
    text = dumps(value)
    if len(text.encode()) > MAX_DATA_BYTES:
        raise InvalidParams(f"data larger than {MAX_DATA_BYTES} bytes")
    return text


def postback_url(params: Mapping[str, Any]) -> str | None:
    """``params.postback_url`` if given: an http(s) URL, else ``Invalid params: invalid postback URL``."""
    value = params.get("postback_url")
    if value is None or value is False:
        return None
    if not valid_postback_url(value):
        raise InvalidParams("invalid postback URL")
    return str(value)


def return_url(params: Mapping[str, Any]) -> str | None:
    """``params.return_url``: where the checkout page sends the payer back (an http(s) URL)."""
    value = params.get("return_url")
    if value is None:
        return None
    if not valid_postback_url(value):
        raise InvalidParams("invalid return_url (an http or https URL)")
    return str(value)


def fiat_price(params: Mapping[str, Any]) -> dict[str, str] | None:
    """``params.fiat``: the price the shop charged, shown on the checkout page.

    ``{"amount": "12.50", "currency": "EUR"}``; for display only, never used in a check.
    """
    value = params.get("fiat")
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise InvalidParams("fiat must be an object with amount and currency")
    amount, currency = parse_money(value.get("amount")), value.get("currency")
    if amount is None or not isinstance(currency, str) or not _CURRENCY.match(currency):
        raise InvalidParams("invalid fiat (amount: a positive decimal, currency: ISO 4217 code)")
    return {"amount": format(amount, "f"), "currency": currency.upper()}


def check_postback_target(params: Any, *, allow_private: bool) -> None:
    """Refuse a ``postback_url`` naming a local or private address (any method, before it runs).

    Every payment-creating method, core or plugin, takes the URL under this one name, so the
    check runs once for all of them where the call is dispatched. The delivery path checks
    again after DNS resolution (``xbtcpay.core.postback_target``).
    """
    if allow_private or not isinstance(params, Mapping):
        return
    value = params.get("postback_url")
    if valid_postback_url(value) and refused_url(str(value)):
        raise InvalidParams("postback URL points to a local or private address")

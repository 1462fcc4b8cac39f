"""Validation of what shops send to the Braintree methods."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from xbtcpay.plugin_api import InvalidParams

MAX_NONCE = 4096
# Braintree customer ids: letters, digits, - and _, at most 36 characters.
_CUSTOMER = re.compile(r"^[A-Za-z0-9_-]{1,36}\Z")


def customer(params: Mapping[str, Any], *, required: bool) -> str | None:
    """The shop's customer id, used as the Braintree customer id."""
    value = params.get("customer")
    if value is None and not required:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not _CUSTOMER.match(value):
        raise InvalidParams("missing or invalid customer (1-36 letters, digits, - or _)")
    return value


def product(params: Mapping[str, Any]) -> str:
    value = params.get("product")
    if not isinstance(value, str) or not value:
        raise InvalidParams("missing product")
    return value


def nonce(params: Mapping[str, Any]) -> str:
    value = params.get("paymentNonce")
    if not isinstance(value, str) or not value or len(value) > MAX_NONCE:
        raise InvalidParams("missing or invalid paymentNonce")
    return value


def plan_of(spec: Mapping[str, Any] | None, product: Any) -> str:
    """The Braintree plan of a subscription product."""
    if spec is None:
        raise InvalidParams(f"unknown product {product!r}")
    plan = spec.get("braintree_plan")
    if spec.get("type") != "subscription" or not isinstance(plan, str) or not plan:
        raise InvalidParams(f"product {product} is not a Braintree subscription")
    return plan

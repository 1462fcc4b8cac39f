"""The parameters of ``refund.create``, checked before anything is read or written."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

from xbtcpay.core.amounts import parse_money
from xbtcpay.core.errors import InvalidParams
from xbtcpay.refunds.address import BadAddress, checked_address

KNOWN = {
    "payment",
    "amount",
    "fiat_amount",
    "currency",
    "rate",
    "address",
    "reason",
    "asset",
    "force",
}
_CURRENCY = re.compile(r"^[A-Z]{3}\Z")
MAX_REASON = 500


@dataclass(frozen=True)
class RefundRequest:
    payment: str
    reason: str
    amount: object | None  # checked against the asset's decimals once the asset is known
    fiat_amount: Decimal | None
    currency: str | None
    rate: Literal["original", "current"]
    address: str | None
    asset: str | None
    force: bool


def parse_create(params: Mapping[str, Any]) -> RefundRequest:
    unknown = set(params) - KNOWN
    if unknown:
        raise InvalidParams(f"unknown parameter {min(unknown)!r}")
    payment = params.get("payment")
    if not isinstance(payment, str) or not payment:
        raise InvalidParams("payment: expected a payment id")
    reason = params.get("reason")
    if not isinstance(reason, str) or not reason.strip() or len(reason) > MAX_REASON:
        raise InvalidParams(f"reason: expected a text of 1 to {MAX_REASON} characters")
    if ("amount" in params) == ("fiat_amount" in params):
        raise InvalidParams("give either amount (crypto) or fiat_amount")
    fiat = None
    if "fiat_amount" in params:
        fiat = parse_money(params["fiat_amount"], decimals=8)
        if fiat is None or fiat <= 0:
            raise InvalidParams("fiat_amount: expected a positive decimal string")
    rate = params.get("rate", "original")
    if rate not in ("original", "current"):
        raise InvalidParams("rate: expected original or current")
    currency = params.get("currency")
    if currency is not None and not (isinstance(currency, str) and _CURRENCY.match(currency)):
        raise InvalidParams("currency: expected an ISO 4217 code such as USD")
    if currency is not None and fiat is None:
        raise InvalidParams("currency is only used with fiat_amount")
    address = params.get("address")
    if address is not None:
        try:
            address = checked_address(address, require_checksum=False)
        except BadAddress as exc:
            raise InvalidParams(f"address: {exc}") from None
    asset = params.get("asset")
    if asset is not None and not isinstance(asset, str):
        raise InvalidParams("asset: expected an asset name")
    force = params.get("force", False)
    if not isinstance(force, bool):
        raise InvalidParams("force: expected true or false")
    return RefundRequest(
        payment, reason.strip(), params.get("amount"), fiat, currency, rate, address, asset, force
    )

"""The purchase endpoint's ``PaymentResponse``: one documented outcome per purchase, each with an ErrorCode.

Every outcome of a plugin's charge (``xbtcpay.plugin_api.Outcome``) maps onto one of these
(``RESPONSES``).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Final

from xbtcpay.plugin_api.charging import Outcome


class PaymentResponse(StrEnum):
    SUCCESS = "Success"
    INSUFFICIENT_BALANCE = "InsufficientBalance"
    CARD_DECLINED = "CardDeclined"
    NO_STORED_CARD = "NoStoredCard"
    TOKEN_ACQUISITION_FAILED = "TokenAcquisitionFailed"  # noqa: S105 - an error code, not a secret
    PROVIDER_ERROR = "ProviderError"
    PENDING = "Pending"
    INVALID_PRODUCT = "InvalidProduct"
    INVALID_CURRENCY = "InvalidCurrency"
    INVALID_REQUEST = "InvalidRequest"
    DUPLICATE_PURCHASE = "DuplicatePurchase"
    RAW_CARD_REFUSED = "RawCardRefused"


RESPONSES: Final[dict[Outcome, PaymentResponse]] = {
    "paid": PaymentResponse.SUCCESS,
    "declined": PaymentResponse.CARD_DECLINED,
    "no_stored_card": PaymentResponse.NO_STORED_CARD,
    "token_failed": PaymentResponse.TOKEN_ACQUISITION_FAILED,
    "failed": PaymentResponse.PROVIDER_ERROR,
    "unknown": PaymentResponse.PENDING,
}

ERROR_CODES: Final[dict[PaymentResponse, str]] = {
    PaymentResponse.SUCCESS: "",
    PaymentResponse.INSUFFICIENT_BALANCE: "E101",
    PaymentResponse.CARD_DECLINED: "E102",
    PaymentResponse.NO_STORED_CARD: "E103",
    PaymentResponse.TOKEN_ACQUISITION_FAILED: "E104",
    PaymentResponse.PROVIDER_ERROR: "E105",
    PaymentResponse.PENDING: "E106",
    PaymentResponse.INVALID_PRODUCT: "E201",
    PaymentResponse.INVALID_CURRENCY: "E202",
    PaymentResponse.INVALID_REQUEST: "E203",
    PaymentResponse.DUPLICATE_PURCHASE: "E204",
    PaymentResponse.RAW_CARD_REFUSED: "E205",
}


class PurchaseRefused(Exception):
    """A purchase that ends with ``response`` before anything was charged."""

    def __init__(self, response: PaymentResponse, message: str) -> None:
        super().__init__(message)
        self.response = response
        self.message = message


def answer(
    response: PaymentResponse, message: str = "", receipt: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The purchase endpoint's response body."""
    return {
        "PaymentSuccess": response is PaymentResponse.SUCCESS,
        "PaymentResponse": response.value,
        "ErrorCode": ERROR_CODES[response],
        "ErrorMessage": message,
        "Receipt": receipt,
    }

"""What the plugin keeps of an App Store transaction, whatever format it arrived in."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from xbtcpay.plugin_api import from_base_units


class Refused(Exception):
    """Apple data that cannot be trusted or used; ``reason`` is safe to show the shop."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Purchase:
    """One verified transaction (StoreKit 2 JWS or a legacy receipt's in_app entry)."""

    transaction_id: str
    original_transaction_id: str
    product_id: str
    environment: str
    source: str  # "storekit2" | "receipt"
    type: str | None = None
    purchase_date: int | None = None  # milliseconds since the epoch, as Apple sends them
    expires_date: int | None = None
    revocation_date: int | None = None
    revocation_reason: str | None = None
    price: Decimal | None = None  # in ``currency`` units (Apple sends milliunits)
    currency: str | None = None
    app_account_token: str | None = None
    quantity: int = 1

    def facts(self) -> dict[str, Any]:
        """JSON-ready facts stored in the payment's ``extra`` and returned to the shop."""
        return {
            "transactionId": self.transaction_id,
            "originalTransactionId": self.original_transaction_id,
            "productId": self.product_id,
            "environment": self.environment,
            "source": self.source,
            "type": self.type,
            "purchaseDate": self.purchase_date,
            "expiresDate": self.expires_date,
            "appAccountToken": self.app_account_token,
            "quantity": self.quantity,
        }


# Apple's revocationReason: 1 = refunded for an issue in the app, 0 = any other reason.
REVOCATION_REASONS = {0: "other", 1: "app_issue"}


def _revocation_reason(value: Any) -> str | None:
    if value is None:
        return None
    return REVOCATION_REASONS.get(value, str(value)) if isinstance(value, int) else str(value)


def from_storekit(tx: Any, raw_environment: str) -> Purchase:
    """A Purchase from the library's JWSTransactionDecodedPayload."""
    if not tx.transactionId or not tx.productId:
        raise Refused("transaction without transactionId or productId")
    price = None if tx.price is None else from_base_units(int(tx.price), 3)
    return Purchase(
        transaction_id=str(tx.transactionId),
        original_transaction_id=str(tx.originalTransactionId or tx.transactionId),
        product_id=str(tx.productId),
        environment=raw_environment,
        source="storekit2",
        type=tx.rawType,
        purchase_date=tx.purchaseDate,
        expires_date=tx.expiresDate,
        revocation_date=tx.revocationDate,
        revocation_reason=_revocation_reason(tx.rawRevocationReason),
        price=price,
        currency=tx.currency,
        app_account_token=tx.appAccountToken,
        quantity=int(tx.quantity or 1),
    )


def _ms(value: Any) -> int | None:
    return int(value) if isinstance(value, (str, int)) and str(value).isdigit() else None


def from_receipt(item: dict[str, Any], environment: str) -> Purchase:
    """A Purchase from one entry of a verifyReceipt answer (``in_app`` / ``latest_receipt_info``)."""
    tx_id, product_id = item.get("transaction_id"), item.get("product_id")
    if not isinstance(tx_id, str) or not isinstance(product_id, str):
        raise Refused("receipt entry without transaction_id or product_id")
    original = item.get("original_transaction_id")
    quantity = _ms(item.get("quantity")) or 1
    return Purchase(
        transaction_id=tx_id,
        original_transaction_id=str(original or tx_id),
        product_id=product_id,
        environment=environment,
        source="receipt",
        purchase_date=_ms(item.get("purchase_date_ms")),
        expires_date=_ms(item.get("expires_date_ms")),
        revocation_date=_ms(item.get("cancellation_date_ms")),
        revocation_reason=item.get("cancellation_reason"),
        quantity=quantity,
    )

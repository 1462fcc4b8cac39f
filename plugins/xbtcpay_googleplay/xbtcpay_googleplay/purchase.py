"""What the plugin keeps of a Google Play purchase, from the androidpublisher v3 answers.

``purchases.products.get`` answers a ProductPurchase (purchaseState 0 purchased, 1 canceled,
2 pending; purchaseType 0 = test); ``purchases.subscriptionsv2.get`` answers a
SubscriptionPurchaseV2 (subscriptionState, lineItems[] with productId, expiryTime and the
recurring price as a Money {currencyCode, units, nanos}; testPurchase present = test).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

PRODUCT_STATES = {0: "purchased", 1: "canceled", 2: "pending"}
ACTIVE_SUBSCRIPTION_STATES = (
    "SUBSCRIPTION_STATE_ACTIVE",
    "SUBSCRIPTION_STATE_IN_GRACE_PERIOD",
    "SUBSCRIPTION_STATE_CANCELED",
)
NANOS = Decimal(10) ** 9
MICROS = Decimal(10) ** 6


class Refused(Exception):
    """Google Play data that cannot be used; ``reason`` is safe to show the shop."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Purchase:
    """One verified purchase (one-time product) or the latest order of a subscription."""

    token: str
    product_id: str
    kind: str  # "product" | "subscription"
    state: str  # purchased/canceled/pending or SUBSCRIPTION_STATE_*
    order_id: str | None = None
    test: bool = False
    acknowledged: bool = True
    consumed: bool = False
    purchase_time: int | None = None  # milliseconds since the epoch
    expiry_time: int | None = None
    price: Decimal | None = None  # what Google says the buyer pays, in ``currency``
    currency: str | None = None
    quantity: int = 1
    refundable_quantity: int | None = None
    linked_token: str | None = None
    account_id: str | None = None  # obfuscatedExternalAccountId set by the app

    @property
    def ref(self) -> str:
        """The payment's provider_ref: the token (one-time) or the order (each renewal)."""
        if self.kind == "subscription" and self.order_id:
            return self.order_id
        return self.token

    def expired(self, now_ms: int) -> bool:
        """A subscription whose access ended (state EXPIRED or expiry time passed)."""
        if self.kind != "subscription":
            return False
        if self.state not in ACTIVE_SUBSCRIPTION_STATES:
            return True
        return self.expiry_time is not None and self.expiry_time <= now_ms

    def facts(self) -> dict[str, Any]:
        """JSON-ready facts stored in the payment's ``extra`` and returned to the shop."""
        return {
            "purchaseToken": self.token,
            "productId": self.product_id,
            "kind": self.kind,
            "orderId": self.order_id,
            "state": self.state,
            "test": self.test,
            "purchaseTime": self.purchase_time,
            "expiryTime": self.expiry_time,
            "quantity": self.quantity,
            "linkedPurchaseToken": self.linked_token,
            "obfuscatedExternalAccountId": self.account_id,
        }


def from_product(token: str, product_id: str, body: Any) -> Purchase:
    """A Purchase from a ProductPurchase resource."""
    if not isinstance(body, dict):
        raise Refused("Google Play answered without a purchase")
    code = _int(body.get("purchaseState"))
    state = "unknown" if code is None else PRODUCT_STATES.get(code, "unknown")
    answered = body.get("productId")
    if isinstance(answered, str) and answered != product_id:
        raise Refused(f"purchase is for product {answered}, not {product_id}")
    return Purchase(
        token=token,
        product_id=product_id,
        kind="product",
        state=state,
        order_id=_str(body.get("orderId")),
        test=_int(body.get("purchaseType")) == 0,
        acknowledged=_int(body.get("acknowledgementState")) == 1,
        consumed=_int(body.get("consumptionState")) == 1,
        purchase_time=_int(body.get("purchaseTimeMillis")),
        price=_micros(body.get("priceAmountMicros")),
        currency=_str(body.get("priceCurrencyCode")),
        quantity=max(1, _int(body.get("quantity")) or 1),
        refundable_quantity=_int(body.get("refundableQuantity")),
        account_id=_str(body.get("obfuscatedExternalAccountId")),
    )


def from_subscription(token: str, product_id: str | None, body: Any) -> Purchase:
    """A Purchase from a SubscriptionPurchaseV2 (its line item for ``product_id``)."""
    if not isinstance(body, dict):
        raise Refused("Google Play answered without a subscription")
    items = [i for i in body.get("lineItems") or [] if isinstance(i, dict)]
    item = next((i for i in items if product_id is None or i.get("productId") == product_id), None)
    if item is None or not isinstance(item.get("productId"), str):
        named = ", ".join(str(i.get("productId")) for i in items) or "none"
        raise Refused(f"subscription is for product {named}, not {product_id}")
    plan = item.get("autoRenewingPlan") or item.get("prepaidPlan") or {}
    price, currency = _money(plan.get("recurringPrice") if isinstance(plan, dict) else None)
    ids = body.get("externalAccountIdentifiers") or {}
    return Purchase(
        token=token,
        product_id=item["productId"],
        kind="subscription",
        state=str(body.get("subscriptionState", "SUBSCRIPTION_STATE_UNSPECIFIED")),
        order_id=_str(item.get("latestSuccessfulOrderId") or body.get("latestOrderId")),
        test="testPurchase" in body,
        acknowledged=body.get("acknowledgementState") != "ACKNOWLEDGEMENT_STATE_PENDING",
        purchase_time=_rfc3339_ms(body.get("startTime")),
        expiry_time=_rfc3339_ms(item.get("expiryTime")),
        price=price,
        currency=currency,
        linked_token=_str(body.get("linkedPurchaseToken")),
        account_id=_str(ids.get("obfuscatedExternalAccountId") if isinstance(ids, dict) else None),
    )


def _money(value: Any) -> tuple[Decimal | None, str | None]:
    """A google.type.Money as an exact Decimal: units + nanos / 10^9."""
    if not isinstance(value, dict) or not isinstance(value.get("currencyCode"), str):
        return None, None
    try:
        units = int(value.get("units") or 0)
        nanos = int(value.get("nanos") or 0)
    except (TypeError, ValueError):
        return None, None
    return Decimal(units) + Decimal(nanos) / NANOS, value["currencyCode"].upper()


def _micros(value: Any) -> Decimal | None:
    try:
        return None if value is None else Decimal(int(value)) / MICROS
    except (TypeError, ValueError, InvalidOperation):
        return None


def _rfc3339_ms(value: Any) -> int | None:
    if not isinstance(value, str):
        return None
    try:
        return int(datetime.fromisoformat(value).timestamp() * 1000)
    except ValueError:
        return None


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    return int(value) if isinstance(value, str) and value.lstrip("-").isdigit() else None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None

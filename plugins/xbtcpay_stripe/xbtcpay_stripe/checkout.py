"""What a shop asks for (``payment.createStripeCheckoutSession``) and the session we create."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from xbtcpay.plugin_api import InvalidParams, data_text, postback_url, valid_postback_url
from xbtcpay_stripe.money import to_minor

_CUSTOMER = re.compile(r"^[\x21-\x7e]{1,128}\Z")


@dataclass(frozen=True)
class CheckoutRequest:
    """A validated request from the shop (amount and currency already priced by the catalog)."""

    product: str
    currency: str
    amount: Decimal
    success_url: str
    cancel_url: str
    customer: str | None
    data: str
    postback_url: str | None


def _url(params: Mapping[str, Any], key: str) -> str:
    value = params.get(key)
    if not valid_postback_url(value):
        raise InvalidParams(f"missing or invalid {key} (an absolute http(s) URL)")
    return str(value)


def optional_text(params: Mapping[str, Any], key: str) -> str | None:
    """An optional printable identifier (``customer``)."""
    value = params.get(key)
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not _CUSTOMER.match(value):
        raise InvalidParams(f"invalid {key} (1-128 printable characters)")
    return value


def parse_request(params: Mapping[str, Any], priced: tuple[str, Decimal]) -> CheckoutRequest:
    """Validate the shop's parameters; ``priced`` is ``ctx.price(...)``'s answer."""
    currency, amount = priced
    try:
        to_minor(amount, currency)
    except ValueError as exc:
        raise InvalidParams(str(exc)) from None
    return CheckoutRequest(
        product=str(params["product"]),
        currency=currency,
        amount=amount,
        success_url=_url(params, "successUrl"),
        cancel_url=_url(params, "cancelUrl"),
        customer=optional_text(params, "customer"),
        data=data_text(params.get("data")),
        postback_url=postback_url(params),
    )


def session_params(
    payment_id: str, req: CheckoutRequest, spec: Mapping[str, Any]
) -> dict[str, Any]:
    """The Checkout Session we ask Stripe for: one line item, our payment id everywhere."""
    if spec.get("stripe_price"):
        item: dict[str, Any] = {"price": str(spec["stripe_price"]), "quantity": 1}
    else:
        item = {
            "quantity": 1,
            "price_data": {
                "currency": req.currency.lower(),
                "unit_amount": to_minor(req.amount, req.currency),
                "product_data": {"name": str(spec.get("name") or req.product)},
            },
        }
    metadata = {"payment_id": payment_id, "product": req.product}
    if req.customer:
        metadata["customer"] = req.customer
    return {
        "mode": "payment",
        "line_items": [item],
        "success_url": req.success_url,
        "cancel_url": req.cancel_url,
        "client_reference_id": payment_id,
        "metadata": metadata,
        # Charges and disputes carry the PaymentIntent's metadata, not the session's.
        "payment_intent_data": {"metadata": {"payment_id": payment_id}},
    }


def idempotency_key(payment_id: str) -> str:
    """One Checkout Session per payment, even when the create call is retried."""
    return f"xbtcpay-checkout-{payment_id}"

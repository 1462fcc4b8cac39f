"""Merchant-initiated charges for ``payment.purchase`` (``xbtcpay.plugin_api.Charger``) with
PaymentIntents confirmed at once:

    stored card   the Stripe customer whose ``metadata.xbtcpay_customer`` is ours, its
                  ``invoice_settings.default_payment_method``, ``off_session=true``
    wallet        an Apple Pay / Google Pay card token (``payment_method_data[card][token]``)
    nonce         a PaymentMethod id created by Stripe.js in the app

The payment id is the Idempotency-Key, so a retried charge is the same charge. A card error
is a decline (``authentication_required`` included: off-session, nobody can authenticate);
an unknown token is token_failed; a connection failure leaves the outcome unknown.
"""

from __future__ import annotations

from typing import Any

import stripe

from xbtcpay.plugin_api import ChargeRequest, ChargeResult
from xbtcpay_stripe.money import to_minor

TOKEN_PARAMS = ("payment_method", "payment_method_data[card][token]")


async def stored_method(client: stripe.StripeClient, customer: str) -> tuple[str, str] | None:
    """(Stripe customer id, default PaymentMethod id) of our customer, or None."""
    quoted = customer.replace("\\", "\\\\").replace("'", "\\'")
    found = await client.v1.customers.search_async(
        {"query": f"metadata['xbtcpay_customer']:'{quoted}'", "limit": 1}
    )
    for cus in found.data:
        default = (plain(cus).get("invoice_settings") or {}).get("default_payment_method")
        if default:
            return cus.id, default if isinstance(default, str) else default["id"]
    return None


def plain(obj: Any) -> dict[str, Any]:
    """A StripeObject as plain nested dicts (``{}`` for None)."""
    if obj is None:
        return {}
    to_dict = getattr(obj, "to_dict", None)
    return dict(to_dict()) if to_dict is not None else dict(obj)


def card_of(method: Any) -> tuple[str | None, str | None]:
    card = plain(method).get("card") if method and not isinstance(method, str) else None
    if not card:
        return None, None
    brand = str(card.get("brand") or "").capitalize() or None
    wallet = (card.get("wallet") or {}).get("type") if card.get("wallet") else None
    if wallet:
        brand = f"{wallet.replace('_', ' ').title()} - {brand}" if brand else wallet
    return brand, card.get("last4")


async def charge(client: stripe.StripeClient, req: ChargeRequest) -> ChargeResult:
    params: dict[str, Any] = {
        "amount": to_minor(req.amount, req.currency),
        "currency": req.currency.lower(),
        "confirm": True,
        "metadata": {"payment_id": req.payment_id, "xbtcpay_customer": req.customer},
        "automatic_payment_methods": {"enabled": True, "allow_redirects": "never"},
        "expand": ["payment_method"],
    }
    if req.source == "stored_card":
        try:
            stored = await stored_method(client, req.customer)
        except stripe.StripeError as exc:
            return _failure(exc)
        if stored is None:
            return ChargeResult("no_stored_card", message="no card is saved for this customer")
        params.update(customer=stored[0], payment_method=stored[1], off_session=True)
    elif req.source == "wallet":
        params["payment_method_data"] = {"type": "card", "card": {"token": req.token}}
    else:
        params["payment_method"] = req.token
    try:
        intent = await client.v1.payment_intents.create_async(
            params,  # type: ignore[arg-type]
            options={"idempotency_key": f"xbtcpay-purchase-{req.payment_id}"},
        )
    except stripe.StripeError as exc:
        return _failure(exc)
    brand, last4 = card_of(getattr(intent, "payment_method", None))
    if intent.status == "succeeded":
        if intent.amount != params["amount"] or str(intent.currency).lower() != params["currency"]:
            return ChargeResult(
                "failed", intent.id, brand, last4, "Stripe charged another amount than asked"
            )
        return ChargeResult("paid", intent.id, brand, last4)
    if intent.status == "processing":
        return ChargeResult("unknown", intent.id, brand, last4, "the payment is processing")
    return ChargeResult("declined", intent.id, brand, last4, f"payment {intent.status}")


def _failure(exc: stripe.StripeError) -> ChargeResult:
    error = exc.error
    if isinstance(exc, stripe.CardError):
        intent = getattr(error, "payment_intent", None)
        brand, last4 = card_of(getattr(error, "payment_method", None))
        return ChargeResult(
            "declined",
            getattr(intent, "id", None),
            brand,
            last4,
            str(exc.user_message or "the card was declined"),
        )
    if isinstance(exc, stripe.InvalidRequestError) and getattr(error, "param", None) in (
        TOKEN_PARAMS
    ):
        return ChargeResult("token_failed", message=str(exc.user_message or "unknown token"))
    if (
        isinstance(exc, (stripe.APIConnectionError, stripe.RateLimitError))
        or (exc.http_status or 0) >= 500
    ):
        return ChargeResult("unknown", message="Stripe did not answer; the charge may settle")
    return ChargeResult("failed", message=str(exc.user_message or type(exc).__name__))

"""Merchant-initiated charges for ``payment.purchase`` (``xbtcpay.plugin_api.Charger``):

    stored card   the customer's default vaulted payment method, ``transaction_source:
                  unscheduled`` (a merchant-initiated charge of a stored credential)
    wallet        the nonce Braintree's Apple Pay / Google Pay client integration produced
    nonce         a fresh payment method nonce from the drop-in UI

Every result maps onto an outcome: success -> paid, a processor or gateway decline ->
declined, a validation error about the nonce -> token_failed, no vaulted card ->
no_stored_card, anything else -> failed.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from xbtcpay.plugin_api import ChargeRequest, ChargeResult
from xbtcpay_braintree.gateway import BraintreeClient, GatewayError
from xbtcpay_braintree.results import decline_reason

NONCE_ERRORS = frozenset({"91564", "91565", "91566", "91567", "91568", "91518", "81714"})


def default_method(customer: Any) -> Any | None:
    """The customer's default vaulted payment method (or the only one)."""
    methods = list(getattr(customer, "payment_methods", None) or [])
    for method in methods:
        if getattr(method, "default", False):
            return method
    return methods[0] if len(methods) == 1 else None


def card_of(tx: Any) -> tuple[str | None, str | None]:
    """(brand, last four) of the instrument a transaction was paid with."""
    for name in ("credit_card_details", "apple_pay_details", "android_pay_card_details"):
        details = getattr(tx, name, None)
        if details is None:
            continue
        brand = getattr(details, "card_type", None) or getattr(details, "source_card_type", None)
        last4 = getattr(details, "last_4", None)
        if last4:
            return (str(brand) if brand else None), str(last4)
    return None, None


async def charge(client: BraintreeClient, req: ChargeRequest) -> ChargeResult:
    """Charge once; the payment id is the order id (reconciliation finds it by that)."""
    params: dict[str, Any]
    if req.source == "stored_card":
        customer = await client.find_customer(req.customer)
        method = default_method(customer) if customer is not None else None
        if method is None:
            return ChargeResult("no_stored_card", message="no card is stored for this customer")
        params = {"payment_method_token": method.token, "transaction_source": "unscheduled"}
    else:
        params = {"payment_method_nonce": req.token}
    try:
        result = await client.charge(req.amount, req.currency, req.payment_id, params)
    except GatewayError as exc:
        return ChargeResult("failed" if exc.definite else "unknown", message=str(exc.detail))
    return outcome_of(result, req.amount, req.currency)


def outcome_of(result: Any, amount: Decimal, currency: str) -> ChargeResult:
    tx = getattr(result, "transaction", None)
    if result.is_success and tx is not None:
        charged = str(getattr(tx, "currency_iso_code", "") or "").upper()
        if charged and charged != currency.upper():
            return ChargeResult("failed", tx.id, message=f"charged in {charged}, not {currency}")
        if Decimal(str(tx.amount)) != amount:
            return ChargeResult("failed", tx.id, message=f"charged {tx.amount}, not {amount}")
        brand, last4 = card_of(tx)
        return ChargeResult("paid", tx.id, brand, last4)
    if tx is not None:
        brand, last4 = card_of(tx)
        return ChargeResult("declined", tx.id, brand, last4, decline_reason(tx, result.message))
    codes = {str(e.code) for e in getattr(getattr(result, "errors", None), "deep_errors", [])}
    message = str(result.message or "refused by Braintree")
    if codes & NONCE_ERRORS:
        return ChargeResult("token_failed", message=message)
    return ChargeResult("failed", message=message)

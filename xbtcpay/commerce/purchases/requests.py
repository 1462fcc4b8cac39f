"""Purchase requests in both spellings: ``payment.purchase`` (snake case) and the purchase
endpoint's ``POST /User/Purchase`` (``PurchaseToken, Card, Product{Token}, UseStoredCard, UseDiamonds,
Token{Type, Token}``). Both become one ``PurchaseRequest``.

Raw card numbers are refused before anything else is read: a card object in any spelling,
or anything that looks like a card number in any field, answers ``RawCardRefused`` and the
number is dropped, never logged, stored or echoed.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final, NoReturn, TypeGuard

from xbtcpay.commerce.purchases.responses import PaymentResponse, PurchaseRefused
from xbtcpay.commerce.sessions import valid_customer

# Shop-chosen keys that make a call safe to retry: 1-255 characters, as Stripe accepts, so
# an order number such as "42" is a key. Purchase tokens are also printable ASCII.
KEY_LIMIT: Final = 255
PURCHASE_TOKEN: Final = re.compile(rf"^[\x21-\x7e]{{1,{KEY_LIMIT}}}\Z")
IDEMPOTENCY_KEY_RULE: Final = f"idempotency_key: 1-{KEY_LIMIT} characters"
WALLETS: Final = ("ApplePay", "GooglePay")
RAW_CARD_MESSAGE: Final = (
    "raw card numbers are not accepted: tokenize the card in the client"
    " (Braintree drop-in / Stripe Elements) and send the nonce or token"
)
_DIGITS: Final = re.compile(r"\d")
# A run of 12-19 digits, single spaces or dashes allowed between them ("4111 1111-1111 1111").
_DIGIT_RUN: Final = re.compile(r"(?<![0-9])[0-9](?:[ -]?[0-9]){11,18}(?![0-9])")


def valid_idempotency_key(key: Any) -> TypeGuard[str]:
    """An idempotency key is any non-empty string up to ``KEY_LIMIT`` characters."""
    return isinstance(key, str) and 0 < len(key) <= KEY_LIMIT


@dataclass(frozen=True)
class PurchaseRequest:
    customer: str
    product: str
    purchase_token: str
    source: str  # balance | stored_card | wallet | nonce
    currency: str | None = None
    provider: str | None = None
    wallet: str | None = None
    token: str | None = None  # wallet token or nonce
    tax_country: str | None = None

    def fingerprint(self) -> str:
        """What must match when a purchase token is replayed (the secret token excluded:
        a replay of a wallet purchase need not carry the one-time token again)."""
        fields = [
            self.customer,
            self.product,
            self.source,
            self.currency,
            self.provider,
            self.wallet,
            self.tax_country,
        ]
        return hashlib.sha256(json.dumps(fields).encode()).hexdigest()


def refuse_raw_card(card: Any) -> None:
    """A card object carrying a number, expiry or CVV (under any name): refused without
    reading it further."""
    if card is None:
        return
    if not isinstance(card, Mapping) or any(_DIGITS.search(str(v or "")) for v in card.values()):
        raise PurchaseRefused(PaymentResponse.RAW_CARD_REFUSED, RAW_CARD_MESSAGE)


def _luhn(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch) * (2 if i % 2 else 1)
        total += d - 9 if d > 9 else d
    return total % 10 == 0


def looks_like_pan(text: str) -> bool:
    """A Luhn-valid run of 12-19 digits (spaces or dashes between groups allowed)."""
    return any(
        _luhn(run.group().replace(" ", "").replace("-", "")) for run in _DIGIT_RUN.finditer(text)
    )


def _holds_pan(value: Any) -> bool:
    """Whether any string, number or key anywhere in ``value`` looks like a card number
    (walked without recursion: nesting is bounded by the JSON reader, not by this walk)."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            if looks_like_pan(item):
                return True
        elif isinstance(item, Mapping):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, (list, tuple)):
            pending.extend(item)
        elif isinstance(item, (int, Decimal, float)) and not isinstance(item, bool):
            whole = _whole_number(item)
            if whole is not None and looks_like_pan(whole):
                return True
    return False


def _whole_number(value: int | Decimal | float) -> str | None:
    """The digits of a JSON number that is a whole number of at most 19 digits."""
    try:
        number = Decimal(value)
    except (ValueError, ArithmeticError):
        return None
    if not number.is_finite() or number != number.to_integral_value() or abs(number) >= 10**19:
        return None
    return str(abs(int(number)))


def refuse_card_numbers(request: Mapping[str, Any]) -> None:
    """A purchase request holding what looks like a card number in any field (a key, a
    nested object, the purchase token) is refused before any of it is read or stored: a
    field the request does not use would otherwise be silently dropped, one it does use
    (the purchase token) stored. Also every card object, whatever its spelling.

    ``customer`` is not scanned: it is the shop's (or the signed session's) own id, never
    typed by the card holder, and a numeric one is Luhn-valid one time in ten."""
    if _holds_pan({k: v for k, v in request.items() if k != "customer"}):
        raise PurchaseRefused(PaymentResponse.RAW_CARD_REFUSED, RAW_CARD_MESSAGE)
    for key in ("card", "Card"):
        refuse_raw_card(request.get(key))


def from_params(params: Mapping[str, Any]) -> PurchaseRequest:
    """``payment.purchase {customer, product, use_balance? | use_stored_card? |
    wallet_token?: {type, token} | payment_nonce?, currency?, provider?, purchase_token}``."""
    refuse_card_numbers(params)
    wallet = params.get("wallet_token")
    sources = {
        "balance": params.get("use_balance") is True,
        "stored_card": params.get("use_stored_card") is True,
        "wallet": wallet is not None,
        "nonce": params.get("payment_nonce") is not None,
    }
    return _build(
        params.get("customer"),
        params.get("product"),
        params.get("purchase_token"),
        sources,
        params.get("currency"),
        params.get("provider"),
        wallet,
        params.get("payment_nonce"),
        params.get("tax_country"),
    )


def from_purchase_endpoint(body: Mapping[str, Any], customer: Any) -> PurchaseRequest:
    """``POST /User/Purchase``: the same request as ``payment.purchase``."""
    return from_params(purchase_endpoint_params(body, customer))


def purchase_endpoint_params(body: Mapping[str, Any], customer: Any) -> dict[str, Any]:
    """The ``payment.purchase`` params of a ``POST /User/Purchase`` body, for ``customer``.

    Only renames, so that the endpoint calls the registered method and every check runs
    there (a raw card first). UseDiamonds pays with the configured virtual currency.
    """
    product = body.get("Product")
    token = body.get("Token")
    diamonds = body.get("UseDiamonds") is True
    currency = body.get("Currency")
    return {
        "customer": customer,
        "card": body.get("Card"),
        "product": product.get("Token") if isinstance(product, Mapping) else None,
        "purchase_token": body.get("PurchaseToken"),
        "use_balance": diamonds,
        "use_stored_card": body.get("UseStoredCard") is True,
        "wallet_token": (
            {"type": token.get("Type"), "token": token.get("Token")}
            if isinstance(token, Mapping)
            else token
        ),
        "payment_nonce": body.get("PaymentNonce"),
        "currency": "virtual" if diamonds and currency is None else currency,
        "provider": body.get("Provider"),
        "tax_country": body.get("TaxCountry"),
    }


def _refuse(message: str, response: PaymentResponse = PaymentResponse.INVALID_REQUEST) -> NoReturn:
    raise PurchaseRefused(response, message)


def _build(
    customer: Any,
    product: Any,
    token: Any,
    sources: dict[str, bool],
    currency: Any,
    provider: Any,
    wallet: Any,
    nonce: Any,
    tax_country: Any,
) -> PurchaseRequest:
    if not valid_customer(customer):
        _refuse("customer: 1-128 printable characters")
    if not isinstance(token, str) or not PURCHASE_TOKEN.match(token):
        _refuse(f"purchase_token: 1-{KEY_LIMIT} printable characters, unique per purchase")
    if not isinstance(product, str) or not product:
        _refuse("product: the catalog name of the product", PaymentResponse.INVALID_PRODUCT)
    chosen = [name for name, on in sources.items() if on]
    if len(chosen) != 1:
        _refuse(
            "name exactly one source: use_balance, use_stored_card, wallet_token or payment_nonce"
        )
    for name, value in (
        ("currency", currency),
        ("provider", provider),
        ("tax_country", tax_country),
    ):
        if value is not None and (not isinstance(value, str) or not 0 < len(value) <= 32):
            _refuse(f"{name}: a short string")
    wallet_type = wallet_token = None
    if chosen[0] == "wallet":
        if not isinstance(wallet, Mapping) or wallet.get("type") not in WALLETS:
            _refuse(f"wallet_token: {{type: {' | '.join(WALLETS)}, token}}")
        wallet_type, wallet_token = wallet.get("type"), wallet.get("token")
        if not isinstance(wallet_token, str) or not 0 < len(wallet_token) <= 16384:
            _refuse("wallet token missing", PaymentResponse.TOKEN_ACQUISITION_FAILED)
    if chosen[0] == "nonce" and (not isinstance(nonce, str) or not 0 < len(nonce) <= 4096):
        _refuse("payment_nonce: the nonce from the provider's client SDK")
    return PurchaseRequest(
        customer=customer,
        product=product,
        purchase_token=token,
        source=chosen[0],
        currency=currency,
        provider=provider,
        wallet=wallet_type,
        token=wallet_token if chosen[0] == "wallet" else (nonce if chosen[0] == "nonce" else None),
        tax_country=tax_country,
    )

"""JWTs of the in-app payment model: the signed request we issue, the notices we accept.

Request (seller -> provider): ``iss`` = app key, ``aud`` = provider, ``typ``, ``iat``, ``exp``,
``request`` {name, description, price[], defaultPrice, productData, postbackURL,
chargebackURL}. Notice (provider -> us): ``iss`` = provider, ``aud`` = app key, ``typ`` of a
postback or chargeback, the echoed ``request`` and ``response`` {transactionID, reason?}.
Notices are checked with an explicit HMAC allow-list, aud, iss, typ and required exp/iat.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode

import jwt

from xbtcpay_inapp.settings import InAppSettings

PAYMENT_KEY = "xbtcpay_payment_id"
MAX_NOTICE_BYTES = 16 * 1024


class NoticeRefused(Exception):
    """A notice that cannot be trusted; ``reason`` is for the log, not for the sender."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Notice:
    """A verified postback or chargeback."""

    transaction_id: str
    payment_id: str | None  # from the echoed request's productData
    reason: str | None
    response: Mapping[str, Any]
    claims: Mapping[str, Any]


def product_data(payment_id: str, shop_data: str | None) -> str:
    """productData that links the provider's notices back to our payment (ours comes first)."""
    ours = urlencode({PAYMENT_KEY: payment_id})
    return f"{ours}&{shop_data}" if shop_data else ours


def payment_id_in(data: Any) -> str | None:
    """Our payment id in a productData string, or None."""
    if not isinstance(data, str):
        return None
    for key, value in parse_qsl(data, keep_blank_values=True):
        if key == PAYMENT_KEY:
            return value or None
    return None


def sign_request(settings: InAppSettings, request: Mapping[str, Any], now: int) -> str:
    """The request JWT the buyer's device hands to the payment provider."""
    claims = {
        "iss": settings.app_key,
        "aud": settings.audience,
        "typ": settings.request_typ,
        "iat": now,
        "exp": now + settings.expiry,
        "request": dict(request),
    }
    return jwt.encode(claims, settings.secret, algorithm=settings.algorithm)


def verify_notice(settings: InAppSettings, token: Any, typ: str) -> Notice:
    """Check a provider notice; NoticeRefused says why it is not trusted."""
    if not isinstance(token, str) or not token or len(token) > MAX_NOTICE_BYTES:
        raise NoticeRefused("missing or oversized notice")
    try:
        claims = jwt.decode(
            token,
            settings.secret,
            algorithms=list(settings.algorithms),
            audience=settings.app_key,
            issuer=settings.audience,
            leeway=settings.leeway,
            options={"require": ["exp", "iat", "iss", "aud"], "verify_signature": True},
        )
    except jwt.PyJWTError as exc:
        raise NoticeRefused(f"{type(exc).__name__}: {exc}") from exc
    if claims.get("typ") != typ:
        raise NoticeRefused(f"typ {claims.get('typ')!r} is not {typ!r}")
    response = claims.get("response")
    tx_id = response.get("transactionID") if isinstance(response, dict) else None
    if not isinstance(tx_id, str) or not tx_id or len(tx_id) > 256:
        raise NoticeRefused("response.transactionID missing")
    request = claims.get("request")
    data = request.get("productData") if isinstance(request, dict) else None
    assert isinstance(response, dict)
    reason = response.get("reason")
    return Notice(
        transaction_id=tx_id,
        payment_id=payment_id_in(data),
        reason=reason if isinstance(reason, str) else None,
        response=response,
        claims=claims,
    )

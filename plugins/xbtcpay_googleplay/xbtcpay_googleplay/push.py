"""Pub/Sub push messages carrying real-time developer notifications (RTDN).

A push is ``POST`` with ``Authorization: Bearer <OIDC token>`` signed by Google for the push
subscription's service account. The token is verified with google-auth (RS256 signature
against Google's certificates keyed by ``kid``, expiry, ``aud`` = the configured push URL),
then its issuer, its ``email`` (the configured push service account) and
``email_verified``. Only then is the body parsed:
``{"message": {"data": base64(JSON), "messageId", "publishTime"}, "subscription"}``.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import structlog
from google.auth import jwt as google_jwt

from xbtcpay_googleplay.purchase import Refused

log = structlog.get_logger("xbtcpay.plugins.googleplay")
ISSUERS = ("accounts.google.com", "https://accounts.google.com")
CLOCK_SKEW = 10
CERTS_TTL = 3600.0
REFETCH_AFTER = 30.0  # an unknown kid refetches at most this often (no amplification)
MAX_TOKEN = 8192
CertsFetcher = Callable[[], Awaitable[Mapping[str, str]]]


class Unauthorized(Refused):
    """The push's bearer token is missing or not Google's for this endpoint (HTTP 401)."""


@dataclass(frozen=True)
class Notification:
    """One DeveloperNotification, from an authenticated push."""

    message_id: str
    package_name: str
    event_ms: int | None
    kind: str  # "subscription" | "one_time" | "voided" | "test" | "other"
    type: int | None  # notificationType (subscription / one-time)
    token: str | None
    product_id: str | None
    order_id: str | None = None  # voided notifications
    refund_type: int | None = None  # voided: 1 full, 2 quantity-based partial


class PushVerifier:
    """Verifies OIDC tokens of Pub/Sub pushes; keeps Google's certificates for an hour."""

    def __init__(
        self,
        fetch_certs: CertsFetcher,
        audience: str,
        service_account: str,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.fetch_certs = fetch_certs
        self.audience = audience
        self.service_account = service_account
        self.clock = clock
        self._certs: Mapping[str, str] = {}
        self._fetched_at = float("-inf")

    async def verify(self, authorization: str | None) -> Mapping[str, Any]:
        """The verified claims of the push token; ``Unauthorized`` otherwise."""
        token = _bearer(authorization)
        kid = _kid(token)
        age = self.clock() - self._fetched_at
        if age > CERTS_TTL or (kid not in self._certs and age > REFETCH_AFTER):
            # An unknown kid: Google may have rotated its keys since the last fetch.
            self._certs = await self.fetch_certs()
            self._fetched_at = self.clock()
        try:
            claims = google_jwt.decode(  # type: ignore[no-untyped-call]
                token,
                certs=dict(self._certs),
                audience=self.audience,
                clock_skew_in_seconds=CLOCK_SKEW,
            )
        except (ValueError, TypeError) as exc:
            raise Unauthorized(f"push token not valid: {_first_line(exc)}") from exc
        if claims.get("iss") not in ISSUERS:
            raise Unauthorized("push token not issued by Google")
        if claims.get("email") != self.service_account or claims.get("email_verified") is not True:
            raise Unauthorized("push token not from the configured push service account")
        return dict(claims)


def parse_push(body: bytes) -> Notification:
    """The notification inside an (authenticated) push body; Refused when malformed."""
    try:
        envelope = json.loads(body)
        message = envelope["message"]
        message_id = message.get("messageId") or message.get("message_id")
        data = json.loads(base64.b64decode(message["data"], validate=True))
    except (ValueError, KeyError, TypeError, AttributeError, binascii.Error) as exc:
        raise Refused("expected a Pub/Sub push {message: {data, messageId}}") from exc
    if not isinstance(message_id, str) or not message_id or not isinstance(data, dict):
        raise Refused("push without messageId or notification")
    package = data.get("packageName")
    if not isinstance(package, str):
        raise Refused("notification without packageName")
    return _notification(message_id, package, data)


def _notification(message_id: str, package: str, data: dict[str, Any]) -> Notification:
    def make(
        kind: str,
        type_: int | None = None,
        token: str | None = None,
        product_id: str | None = None,
        order_id: str | None = None,
        refund_type: int | None = None,
    ) -> Notification:
        return Notification(
            message_id,
            package,
            _int(data.get("eventTimeMillis")),
            kind,
            type_,
            token,
            product_id,
            order_id,
            refund_type,
        )

    if isinstance(sub := data.get("subscriptionNotification"), dict):
        return make(
            "subscription",
            _int(sub.get("notificationType")),
            _str(sub.get("purchaseToken")),
            _str(sub.get("subscriptionId")),
        )
    if isinstance(one := data.get("oneTimeProductNotification"), dict):
        return make(
            "one_time",
            _int(one.get("notificationType")),
            _str(one.get("purchaseToken")),
            _str(one.get("sku")),
        )
    if isinstance(void := data.get("voidedPurchaseNotification"), dict):
        return make(
            "voided",
            _int(void.get("productType")),
            _str(void.get("purchaseToken")),
            order_id=_str(void.get("orderId")),
            refund_type=_int(void.get("refundType")),
        )
    return make("test" if "testNotification" in data else "other")


def _bearer(authorization: str | None) -> str:
    if not authorization or not authorization.startswith("Bearer "):
        raise Unauthorized("push without a bearer token")
    token = authorization[len("Bearer ") :].strip()
    if len(token) > MAX_TOKEN or token.count(".") != 2:
        raise Unauthorized("push token is not a JWT")
    return token


def _kid(token: str) -> str:
    try:
        header = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
    except (ValueError, binascii.Error) as exc:
        raise Unauthorized("push token header not readable") from exc
    kid = header.get("kid") if isinstance(header, dict) else None
    if not isinstance(kid, str) or header.get("alg") != "RS256":
        raise Unauthorized("push token is not an RS256 token with a key id")
    return kid


def _first_line(exc: Exception) -> str:
    return str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    return int(value) if isinstance(value, str) and value.isdigit() else None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None

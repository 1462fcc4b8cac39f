"""Offline verification of StoreKit 2 signed data with Apple's own library.

``SignedDataVerifier`` checks the x5c chain up to a configured root (strict X.509, Apple's
OIDs on intermediate and leaf, validity at the signed date), the ES256 signature, the
bundle id, the app's Apple ID (production) and the environment. One verifier exists per
accepted environment; the unverified ``environment`` claim only picks which one checks.
Xcode and LocalTesting data carry no Apple signature, so they are refused unless the
settings allow test environments.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jwt
from appstoreserverlibrary.models.Environment import Environment
from appstoreserverlibrary.signed_data_verifier import (
    SignedDataVerifier,
    VerificationException,
    VerificationStatus,
)

from xbtcpay_appstore.purchase import Purchase, Refused, from_storekit
from xbtcpay_appstore.settings import AppStoreSettings

REASONS = {
    VerificationStatus.VERIFICATION_FAILURE: "signature or certificate chain not valid",
    VerificationStatus.INVALID_APP_IDENTIFIER: "signed for another app (bundle id / app id)",
    VerificationStatus.INVALID_CERTIFICATE: "certificate not readable",
    VerificationStatus.INVALID_CHAIN_LENGTH: "certificate chain incomplete",
    VerificationStatus.INVALID_CHAIN: "certificate chain not valid",
    VerificationStatus.INVALID_ENVIRONMENT: "signed for another environment",
    VerificationStatus.RETRYABLE_VERIFICATION_FAILURE: "verification unavailable, retry",
}


@dataclass(frozen=True)
class Notification:
    """A verified App Store Server Notification V2."""

    uuid: str
    type: str
    subtype: str | None
    environment: str
    purchase: Purchase | None  # from data.signedTransactionInfo, when present


class AppleVerifier:
    """Verifies signed transactions and notifications for one app."""

    def __init__(self, settings: AppStoreSettings) -> None:
        self.settings = settings
        self._verifiers = {
            env: SignedDataVerifier(
                list(settings.root_certificates),
                False,
                Environment(env),
                settings.bundle_id,
                settings.app_apple_id,
            )
            for env in settings.accepted_environments()
        }

    def transaction(self, signed: str) -> Purchase:
        """Verify a signed transaction (JWS); Refused with a reason when it cannot be trusted."""
        env = _claimed_environment(signed, nested=False)
        verifier = self._verifier(env)
        tx = _checked(lambda: verifier.verify_and_decode_signed_transaction(signed))
        return from_storekit(tx, env)

    def notification(self, signed: Any) -> Notification:
        """Verify a notification's signedPayload and the transaction it carries."""
        env = _claimed_environment(signed, nested=True)
        verifier = self._verifier(env)
        body = _checked(lambda: verifier.verify_and_decode_notification(signed))
        if not body.notificationUUID or not body.rawNotificationType:
            raise Refused("notification without notificationUUID or notificationType")
        purchase = None
        signed_tx = body.data.signedTransactionInfo if body.data else None
        if signed_tx:
            tx = _checked(lambda: verifier.verify_and_decode_signed_transaction(signed_tx))
            purchase = from_storekit(tx, env)
        return Notification(
            uuid=body.notificationUUID,
            type=body.rawNotificationType,
            subtype=body.rawSubtype,
            environment=env,
            purchase=purchase,
        )

    def _verifier(self, env: str) -> SignedDataVerifier:
        verifier = self._verifiers.get(env)
        if verifier is None:
            raise Refused(f"environment {env} is not accepted")
        return verifier


def _checked(decode: Any) -> Any:
    try:
        return decode()
    except VerificationException as exc:
        raise Refused(REASONS.get(exc.status, "not verifiable")) from exc
    except Exception as exc:
        raise Refused("malformed signed data") from exc


def _claimed_environment(signed: Any, *, nested: bool) -> str:
    """The environment the (not yet verified) payload claims; only used to pick a verifier."""
    if not isinstance(signed, str) or signed.count(".") != 2 or len(signed) > 64_000:
        raise Refused("not a signed App Store payload (JWS)")
    try:
        claims = jwt.decode(signed, options={"verify_signature": False})
    except jwt.PyJWTError as exc:
        raise Refused("not a signed App Store payload (JWS)") from exc
    source = (claims.get("data") or claims.get("summary")) if nested else claims
    env = source.get("environment") if isinstance(source, dict) else None
    if not isinstance(env, str):
        raise Refused("payload names no environment")
    return env

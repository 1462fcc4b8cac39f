"""A stand-in for Apple's signing side: a P-256 certificate chain and StoreKit 2 JWS.

``AppleChain.mint()`` builds root -> intermediate -> leaf with the extensions Apple's chain
carries (the intermediate's 1.2.840.113635.100.6.2.1, the leaf's 1.2.840.113635.100.6.11.1),
so ``SignedDataVerifier`` accepts it when the root is configured. ``AppleSigner`` signs
transactions (JWSTransactionDecodedPayload) and App Store Server Notifications V2.

Ways to make a signature wrong: a chain from another root, another bundle or environment,
a key that is not the leaf's (``wrong_key``), an x5c without the intermediate (``short_chain``),
an expired leaf (``AppleChain.mint(root=..., leaf_expired=True)``).
"""

from __future__ import annotations

import base64
import datetime as dt
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

INTERMEDIATE_OID = x509.ObjectIdentifier("1.2.840.113635.100.6.2.1")
LEAF_OID = x509.ObjectIdentifier("1.2.840.113635.100.6.11.1")
ASN1_NULL = b"\x05\x00"
DAY = dt.timedelta(days=1)


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Test Apple Inc."),
        ]
    )


def _cert(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: x509.Certificate | None,
    issuer_key: ec.EllipticCurvePrivateKey,
    *,
    ca: bool,
    oid: x509.ObjectIdentifier | None,
    not_after: dt.datetime,
) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    issuer_name = issuer.subject if issuer is not None else _name(subject)
    issuer_public = issuer_key.public_key()
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - 30 * DAY)
        .not_valid_after(not_after)
        .add_extension(
            x509.BasicConstraints(ca=ca, path_length=0 if ca and issuer else None), critical=True
        )
        .add_extension(
            x509.KeyUsage(
                digital_signature=not ca,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=ca,
                crl_sign=ca,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_public), critical=False
        )
    )
    if oid is not None:
        builder = builder.add_extension(x509.UnrecognizedExtension(oid, ASN1_NULL), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@dataclass(frozen=True)
class AppleChain:
    """Root, intermediate and leaf certificates with their keys."""

    root_key: ec.EllipticCurvePrivateKey
    root: x509.Certificate
    intermediate_key: ec.EllipticCurvePrivateKey
    intermediate: x509.Certificate
    leaf_key: ec.EllipticCurvePrivateKey
    leaf: x509.Certificate

    @classmethod
    def mint(cls, root: AppleChain | None = None, *, leaf_expired: bool = False) -> AppleChain:
        """A fresh chain; ``root`` reuses another chain's root (and intermediate)."""
        later = dt.datetime.now(dt.UTC) + 3650 * DAY
        if root is None:
            root_key = _key()
            root_cert = _cert(
                "Test Apple Root CA - G3",
                root_key,
                None,
                root_key,
                ca=True,
                oid=None,
                not_after=later,
            )
            inter_key = _key()
            inter = _cert(
                "Test Apple Worldwide Developer Relations CA - G6",
                inter_key,
                root_cert,
                root_key,
                ca=True,
                oid=INTERMEDIATE_OID,
                not_after=later,
            )
        else:
            root_key, root_cert = root.root_key, root.root
            inter_key, inter = root.intermediate_key, root.intermediate
        leaf_key = _key()
        leaf_end = dt.datetime.now(dt.UTC) - DAY if leaf_expired else later
        leaf = _cert(
            "Test Prod ECC Mac App Store and iTunes Store Receipt Signing",
            leaf_key,
            inter,
            inter_key,
            ca=False,
            oid=LEAF_OID,
            not_after=leaf_end,
        )
        return cls(root_key, root_cert, inter_key, inter, leaf_key, leaf)

    @property
    def root_der(self) -> bytes:
        return self.root.public_bytes(serialization.Encoding.DER)

    @property
    def root_pem(self) -> bytes:
        return self.root.public_bytes(serialization.Encoding.PEM)

    def x5c(self, *, short: bool = False) -> list[str]:
        certs = [self.leaf] if short else [self.leaf, self.intermediate]
        certs = certs + [self.root]
        return [
            base64.b64encode(c.public_bytes(serialization.Encoding.DER)).decode() for c in certs
        ]


def now_ms() -> int:
    return int(time.time() * 1000)


@dataclass
class AppleSigner:
    """Signs StoreKit 2 transactions and Server Notifications V2 like the App Store does."""

    chain: AppleChain
    bundle_id: str = "com.example.shop"
    app_apple_id: int = 1234567890
    environment: str = "Sandbox"
    counter: int = field(default=2000000000000000)

    def sign(
        self, payload: dict[str, Any], *, wrong_key: bool = False, short_chain: bool = False
    ) -> str:
        """ES256 JWS with the chain in ``x5c``; the options make it wrong on purpose."""
        key = _key() if wrong_key else self.chain.leaf_key
        return jwt.encode(
            payload, key, algorithm="ES256", headers={"x5c": self.chain.x5c(short=short_chain)}
        )

    def next_id(self) -> str:
        self.counter += 1
        return str(self.counter)

    def transaction_payload(self, product_id: str, **overrides: Any) -> dict[str, Any]:
        """A JWSTransactionDecodedPayload; ``overrides`` replace or add fields."""
        tx_id = self.next_id()
        now = now_ms()
        payload: dict[str, Any] = {
            "transactionId": tx_id,
            "originalTransactionId": tx_id,
            "webOrderLineItemId": self.next_id(),
            "bundleId": self.bundle_id,
            "productId": product_id,
            "purchaseDate": now,
            "originalPurchaseDate": now,
            "quantity": 1,
            "type": "Consumable",
            "inAppOwnershipType": "PURCHASED",
            "signedDate": now,
            "environment": self.environment,
            "transactionReason": "PURCHASE",
            "storefront": "USA",
            "storefrontId": "143441",
            "price": 9990,
            "currency": "USD",
            "appAccountToken": str(uuid.uuid4()),
            "appTransactionId": "704289572311",
        }
        payload.update(overrides)
        return {k: v for k, v in payload.items() if v is not None}

    def transaction(
        self,
        product_id: str,
        *,
        wrong_key: bool = False,
        short_chain: bool = False,
        **overrides: Any,
    ) -> tuple[str, dict[str, Any]]:
        payload = self.transaction_payload(product_id, **overrides)
        return self.sign(payload, wrong_key=wrong_key, short_chain=short_chain), payload

    def renewal_info(self, transaction: dict[str, Any], **overrides: Any) -> str:
        payload = {
            "originalTransactionId": transaction["originalTransactionId"],
            "autoRenewProductId": transaction["productId"],
            "productId": transaction["productId"],
            "autoRenewStatus": 1,
            "signedDate": now_ms(),
            "environment": self.environment,
            "recentSubscriptionStartDate": transaction["purchaseDate"],
            "renewalDate": transaction.get("expiresDate", now_ms()),
        }
        payload.update(overrides)
        return self.sign(payload)

    def notification(
        self,
        notification_type: str,
        transaction: dict[str, Any] | None = None,
        *,
        subtype: str | None = None,
        notification_uuid: str | None = None,
        wrong_key: bool = False,
        short_chain: bool = False,
        data_overrides: dict[str, Any] | None = None,
    ) -> tuple[str, dict[str, Any]]:
        """A signedPayload (ResponseBodyV2DecodedPayload) carrying ``transaction`` signed."""
        data: dict[str, Any] = {
            "bundleId": self.bundle_id,
            "appAppleId": self.app_apple_id,
            "bundleVersion": "1.0",
            "environment": self.environment,
        }
        if transaction is not None:
            data["signedTransactionInfo"] = self.sign(transaction)
            if transaction.get("type") == "Auto-Renewable Subscription":
                data["signedRenewalInfo"] = self.renewal_info(transaction)
                data["status"] = 1
        data.update(data_overrides or {})
        payload: dict[str, Any] = {
            "notificationType": notification_type,
            "notificationUUID": notification_uuid or str(uuid.uuid4()),
            "data": data,
            "version": "2.0",
            "signedDate": now_ms(),
        }
        if subtype is not None:
            payload["subtype"] = subtype
        return self.sign(payload, wrong_key=wrong_key, short_chain=short_chain), payload

"""A fake of Google's side of Google Play on loopback, speaking Google's wire formats.

``FakeGooglePlay`` serves what the googleplay plugin reaches at ``api_base_url``:

- ``POST /token``: OAuth 2.0 JWT-bearer grant; the assertion must be RS256-signed by the
  service account's key (``aud`` = Google's token endpoint, ``scope`` = androidpublisher), and the
  access token it issues is required as ``Authorization: Bearer`` on every API call;
- androidpublisher v3 JSON: ``purchases.products.get`` / ``:acknowledge``,
  ``purchases.subscriptionsv2.get``, ``purchases.subscriptions.…:acknowledge``,
  ``purchases.voidedpurchases.list``, with Google's error shape
  ``{"error": {"code", "message", "status"}}``;
- ``GET /oauth2/v1/certs``: the PEM certificates (keyed by ``kid``) of ``PubSubSigner``.

Tests act as the buyer and as Google through helpers (``buy``, ``subscribe``, ``renew``,
``cancel``, ``expire``, ``void``...). ``PubSubSigner`` mints the OIDC tokens Pub/Sub puts on
push requests, and ``push_body`` wraps a developer notification like Pub/Sub does.
"""

from __future__ import annotations

import base64
import datetime as dt
import itertools
import json
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import jwt
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

SCOPE = "https://www.googleapis.com/auth/androidpublisher"
GOOGLE_TOKEN_AUDIENCE = "https://oauth2.googleapis.com/token"  # google-auth always signs for it
GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
API = "/androidpublisher/v3/applications/{package}/purchases"
DAY_MS = 86_400_000
PUSH_ACCOUNT = "pubsub-push@shop-project.iam.gserviceaccount.com"


def _rsa() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _pem(key: rsa.RSAPrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def _self_signed(key: rsa.RSAPrivateKey, name: str) -> str:
    now = dt.datetime.now(dt.UTC)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def _error(status: int, message: str, kind: str) -> web.Response:
    return web.json_response(
        {
            "error": {
                "code": status,
                "message": message,
                "status": kind,
                "errors": [{"message": message, "domain": "global", "reason": kind.lower()}],
            }
        },
        status=status,
    )


def _rfc3339(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class PubSubSigner:
    """Google's OIDC signing keys as Pub/Sub uses them for authenticated push."""

    def __init__(self) -> None:
        self.kid = secrets.token_hex(20)
        self.key = _rsa()
        self.certs = {self.kid: _self_signed(self.key, "pubsub")}

    def token(
        self,
        audience: str,
        *,
        email: str = PUSH_ACCOUNT,
        issuer: str = "https://accounts.google.com",
        expires_in: int = 3600,
        email_verified: bool = True,
        key: rsa.RSAPrivateKey | None = None,
        kid: str | None = None,
    ) -> str:
        now = int(time.time())
        claims = {
            "aud": audience,
            "azp": "1234567890",
            "email": email,
            "email_verified": email_verified,
            "exp": now + expires_in,
            "iat": now - 5,
            "iss": issuer,
            "sub": "1234567890",
        }
        return jwt.encode(
            claims, _pem(key or self.key), algorithm="RS256", headers={"kid": kid or self.kid}
        )


def push_body(notification: dict[str, Any], message_id: str) -> bytes:
    """A Pub/Sub push request body carrying ``notification``."""
    data = base64.b64encode(json.dumps(notification).encode()).decode()
    return json.dumps(
        {
            "message": {
                "data": data,
                "messageId": message_id,
                "message_id": message_id,
                "publishTime": "2026-12-01T20:00:00.000Z",
                "attributes": {},
            },
            "subscription": "projects/shop-project/subscriptions/play-rtdn",
        }
    ).encode()


def developer_notification(package: str, **payload: Any) -> dict[str, Any]:
    """A DeveloperNotification (``subscriptionNotification={...}`` and so on)."""
    return {
        "version": "1.0",
        "packageName": package,
        "eventTimeMillis": str(int(time.time() * 1000)),
        **payload,
    }


@dataclass
class FakeGooglePlay:
    """Google's token endpoint, the Play Developer API and the OIDC certificates."""

    package: str = "com.example.app"
    signer: PubSubSigner = field(default_factory=PubSubSigner)
    products: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    subscriptions: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    voided: list[dict[str, Any]] = field(default_factory=list)
    acknowledged: list[str] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)
    fail_with: int | None = None
    port: int = 0

    def __post_init__(self) -> None:
        self.account_key = _rsa()
        self.account_email = "xbtcpay@shop-project.iam.gserviceaccount.com"
        self.access_tokens: set[str] = set()
        self._orders = itertools.count(10000)
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def service_account_file(self, directory: Path) -> Path:
        """A service-account key file as the Cloud console downloads it, pointing here."""
        path = directory / "play-service-account.json"
        path.write_text(
            json.dumps(
                {
                    "type": "service_account",
                    "project_id": "shop-project",
                    "private_key_id": "0123abcd",
                    "private_key": _pem(self.account_key),
                    "client_email": self.account_email,
                    "client_id": "1000",
                    "auth_uri": f"{self.url}/o/oauth2/auth",
                    "token_uri": f"{self.url}/token",
                }
            )
        )
        path.chmod(0o600)
        return path

    async def start(self) -> FakeGooglePlay:
        app = web.Application()
        app.router.add_post("/token", self._token)
        app.router.add_get("/oauth2/v1/certs", self._certs)
        base = API
        app.router.add_get(base + "/products/{product}/tokens/{token}", self._product)
        app.router.add_post(base + "/products/{product}/tokens/{token}", self._ack_product)
        app.router.add_get(base + "/subscriptionsv2/tokens/{token}", self._subscription)
        app.router.add_post(base + "/subscriptions/{product}/tokens/{token}", self._ack_sub)
        app.router.add_get(base + "/voidedpurchases", self._voided)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # -- the buyer's and Google's side -----------------------------------------------------

    def order_id(self) -> str:
        n = next(self._orders)
        return f"GPA.3312-{n:04d}-{n * 7 % 10000:04d}-{n:05d}"

    def buy(
        self,
        product_id: str,
        *,
        quantity: int = 1,
        test: bool = False,
        pending: bool = False,
        acknowledged: bool = False,
        package: str | None = None,
        price: tuple[str, int] | None = None,
    ) -> str:
        """A one-time purchase; returns its purchase token. ``price`` = (currency, micros)
        adds ``priceCurrencyCode``/``priceAmountMicros`` as some answers carry them."""
        token = secrets.token_urlsafe(48)
        body: dict[str, Any] = {
            "kind": "androidpublisher#productPurchase",
            "productId": product_id,
            "purchaseTimeMillis": str(int(time.time() * 1000)),
            "purchaseState": 2 if pending else 0,
            "consumptionState": 0,
            "orderId": self.order_id(),
            "acknowledgementState": int(acknowledged),
            "quantity": quantity,
            "refundableQuantity": quantity,
            "regionCode": "US",
            "obfuscatedExternalAccountId": "acct-7",
            "purchaseToken": token,
        }
        if test:
            body["purchaseType"] = 0
        if price is not None:
            body["priceCurrencyCode"], body["priceAmountMicros"] = price[0], str(price[1])
        self.products[(package or self.package, token)] = body
        return token

    def complete(self, token: str) -> None:
        """A pending purchase gets paid."""
        self.products[(self.package, token)]["purchaseState"] = 0

    def subscribe(
        self,
        product_id: str,
        *,
        price: tuple[str, str] = ("USD", "9.99"),
        test: bool = False,
        package: str | None = None,
        days: int = 30,
    ) -> str:
        """A new subscription (first period of ``days`` paid); returns its purchase token."""
        token = secrets.token_urlsafe(48)
        now = int(time.time() * 1000)
        units, _, frac = price[1].partition(".")
        body: dict[str, Any] = {
            "kind": "androidpublisher#subscriptionPurchaseV2",
            "regionCode": "US",
            "startTime": _rfc3339(now),
            "subscriptionState": "SUBSCRIPTION_STATE_ACTIVE",
            "latestOrderId": self.order_id(),
            "acknowledgementState": "ACKNOWLEDGEMENT_STATE_PENDING",
            "externalAccountIdentifiers": {"obfuscatedExternalAccountId": "acct-7"},
            "lineItems": [
                {
                    "productId": product_id,
                    "expiryTime": _rfc3339(now + days * DAY_MS),
                    "latestSuccessfulOrderId": None,
                    "autoRenewingPlan": {
                        "autoRenewEnabled": True,
                        "recurringPrice": {
                            "currencyCode": price[0],
                            "units": units,
                            "nanos": int((frac or "0").ljust(9, "0")),
                        },
                    },
                    "offerDetails": {"basePlanId": "monthly"},
                }
            ],
        }
        body["lineItems"][0]["latestSuccessfulOrderId"] = body["latestOrderId"]
        if test:
            body["testPurchase"] = {}
        self.subscriptions[(package or self.package, token)] = body
        return token

    def _sub(self, token: str) -> dict[str, Any]:
        return self.subscriptions[(self.package, token)]

    def renew(self, token: str) -> str:
        """The next period is charged: a new order id ``<first>..N``; returns it."""
        sub = self._sub(token)
        item = sub["lineItems"][0]
        first, _, n = sub["latestOrderId"].partition("..")
        order = f"{first}..{int(n) + 1 if n else 0}"
        sub["latestOrderId"] = item["latestSuccessfulOrderId"] = order
        expiry = dt.datetime.fromisoformat(item["expiryTime"]) + dt.timedelta(days=30)
        item["expiryTime"] = _rfc3339(int(expiry.timestamp() * 1000))
        sub["subscriptionState"] = "SUBSCRIPTION_STATE_ACTIVE"
        return order

    def cancel(self, token: str) -> None:
        """The buyer turns auto-renew off (access lasts until the expiry time)."""
        sub = self._sub(token)
        sub["subscriptionState"] = "SUBSCRIPTION_STATE_CANCELED"
        sub["lineItems"][0]["autoRenewingPlan"]["autoRenewEnabled"] = False
        sub["canceledStateContext"] = {"userInitiatedCancellation": {}}

    def expire(self, token: str) -> None:
        sub = self._sub(token)
        sub["subscriptionState"] = "SUBSCRIPTION_STATE_EXPIRED"
        sub["lineItems"][0]["expiryTime"] = _rfc3339(int(time.time() * 1000) - 1000)

    def void(
        self,
        token: str,
        *,
        subscription: bool = False,
        quantity: int | None = None,
        reason: int = 1,
    ) -> dict[str, Any]:
        """Google refunds a purchase (or ``quantity`` units of it); returns the voided entry."""
        if subscription:
            sub = self._sub(token)
            order = sub["latestOrderId"]
            sub["subscriptionState"] = "SUBSCRIPTION_STATE_EXPIRED"
            purchase_ms = 0
        else:
            body = self.products[(self.package, token)]
            order, purchase_ms = body["orderId"], int(body["purchaseTimeMillis"])
            if quantity is None:
                body["purchaseState"] = 1
                body["refundableQuantity"] = 0
            else:
                body["refundableQuantity"] -= quantity
        entry = {
            "kind": "androidpublisher#voidedPurchase",
            "purchaseToken": token,
            "orderId": order,
            "purchaseTimeMillis": str(purchase_ms),
            "voidedTimeMillis": str(int(time.time() * 1000)),
            "voidedSource": 0,
            "voidedReason": reason,
            "refundType": 1 if quantity is None else 2,
        }
        if quantity is not None:
            entry["voidedQuantity"] = quantity
        self.voided.append(entry)
        return entry

    # -- the wire --------------------------------------------------------------------------

    async def _token(self, request: web.Request) -> web.Response:
        form = parse_qs(await request.text())
        if form.get("grant_type") != [GRANT] or "assertion" not in form:
            return web.json_response({"error": "unsupported_grant_type"}, status=400)
        try:
            claims = jwt.decode(
                form["assertion"][0],
                self.account_key.public_key(),
                algorithms=["RS256"],
                audience=GOOGLE_TOKEN_AUDIENCE,
            )
        except jwt.PyJWTError as exc:
            return web.json_response(
                {"error": "invalid_grant", "error_description": str(exc)}, status=400
            )
        if claims.get("iss") != self.account_email or SCOPE not in claims.get("scope", ""):
            return web.json_response({"error": "invalid_scope"}, status=400)
        token = "ya29." + secrets.token_urlsafe(32)
        self.access_tokens.add(token)
        return web.json_response(
            {"access_token": token, "expires_in": 3599, "token_type": "Bearer"}
        )

    async def _certs(self, request: web.Request) -> web.Response:
        return web.json_response(
            self.signer.certs, headers={"Cache-Control": "public, max-age=19000"}
        )

    def _refuse(self, request: web.Request) -> web.Response | None:
        self.calls.append(f"{request.method} {request.path}")
        auth = request.headers.get("Authorization", "")
        if auth.removeprefix("Bearer ") not in self.access_tokens:
            return _error(401, "Request had invalid authentication credentials.", "UNAUTHENTICATED")
        if self.fail_with is not None:
            return _error(self.fail_with, "Backend Error", "UNAVAILABLE")
        return None

    async def _product(self, request: web.Request) -> web.Response:
        if (refused := self._refuse(request)) is not None:
            return refused
        m = request.match_info
        body = self.products.get((m["package"], m["token"]))
        if body is None and m["package"] != self.package:
            return _error(404, "No application was found for the given package name.", "NOT_FOUND")
        if body is None:
            return _error(400, "The purchase token is no longer valid.", "INVALID_ARGUMENT")
        if body["productId"] != m["product"]:
            return _error(
                400, "The purchase token does not match the product ID.", "INVALID_ARGUMENT"
            )
        return web.json_response(body)

    async def _ack_product(self, request: web.Request) -> web.Response:
        if (refused := self._refuse(request)) is not None:
            return refused
        m = request.match_info
        token, _, verb = m["token"].partition(":")
        body = self.products.get((m["package"], token))
        if verb != "acknowledge" or body is None or body["productId"] != m["product"]:
            return _error(400, "The purchase token is no longer valid.", "INVALID_ARGUMENT")
        body["acknowledgementState"] = 1
        self.acknowledged.append(token)
        return web.Response(status=204)

    async def _subscription(self, request: web.Request) -> web.Response:
        if (refused := self._refuse(request)) is not None:
            return refused
        m = request.match_info
        body = self.subscriptions.get((m["package"], m["token"]))
        if body is None:
            return _error(400, "The purchase token is no longer valid.", "INVALID_ARGUMENT")
        return web.json_response(body)

    async def _ack_sub(self, request: web.Request) -> web.Response:
        if (refused := self._refuse(request)) is not None:
            return refused
        m = request.match_info
        token, _, verb = m["token"].partition(":")
        body = self.subscriptions.get((m["package"], token))
        if verb != "acknowledge" or body is None:
            return _error(400, "The purchase token is no longer valid.", "INVALID_ARGUMENT")
        body["acknowledgementState"] = "ACKNOWLEDGEMENT_STATE_ACKNOWLEDGED"
        self.acknowledged.append(token)
        return web.Response(status=204)

    async def _voided(self, request: web.Request) -> web.Response:
        if (refused := self._refuse(request)) is not None:
            return refused
        start = int(request.query.get("startTime", "0"))
        items = [v for v in self.voided if int(v["voidedTimeMillis"]) >= start]
        return web.json_response({"voidedPurchases": items} if items else {})

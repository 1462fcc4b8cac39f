"""Contract driver for the JWT in-app plugin: the test plays the payment provider."""

from __future__ import annotations

import secrets
import time
from typing import Any

import aiohttp
import jwt

APP_KEY = "shop-app-key"
AUDIENCE = "pay.example.test"
SECRET = "inapp-test-secret-7c1e0f5b2d9a48e6b3"
REQUEST_TYP = "pay.example.test/payments/inapp/v1"
POSTBACK_TYP = "pay.example.test/payments/inapp/postback/v1"
CHARGEBACK_TYP = "pay.example.test/payments/inapp/chargeback/v1"
PRODUCTS: dict[str, Any] = {
    "cake": {
        "type": "one_time",
        "prices": {"USD": "5.50", "BRL": "8.50"},
        "name": "Piece of Cake",
        "description": "Virtual chocolate cake to fill your virtual tummy",
    },
}


def settings() -> dict[str, Any]:
    return {
        "app_key": APP_KEY,
        "secret": SECRET,
        "audience": AUDIENCE,
        "request_typ": REQUEST_TYP,
        "postback_typ": POSTBACK_TYP,
        "chargeback_typ": CHARGEBACK_TYP,
    }


def read_request(token: str) -> dict[str, Any]:
    """What the provider does with the request JWT: verify it with the shared secret."""
    return dict(
        jwt.decode(
            token,
            SECRET,
            algorithms=["HS256"],
            audience=AUDIENCE,
            issuer=APP_KEY,
            options={"require": ["exp", "iat"]},
        )
    )


def notice(
    request_claims: dict[str, Any],
    typ: str = POSTBACK_TYP,
    *,
    secret: str = SECRET,
    transaction_id: str | None = None,
    **response: Any,
) -> tuple[str, str]:
    """A provider notice (postback/chargeback JWT) for a request; returns (jwt, transactionID)."""
    tx_id = transaction_id or "webpay:" + secrets.token_hex(8)
    now = int(time.time())
    claims = {
        "iss": AUDIENCE,
        "aud": APP_KEY,
        "typ": typ,
        "iat": now,
        "exp": now + 3600,
        "request": request_claims["request"],
        "response": {"transactionID": tx_id, **response},
    }
    return jwt.encode(claims, secret, algorithm="HS256"), tx_id


async def post_notice(session: aiohttp.ClientSession, url: str, token: str) -> tuple[int, str]:
    async with session.post(url, data={"notice": token}) as resp:
        return resp.status, await resp.text()


class InAppDriver:
    """Pays with a signed postback; forges with another secret."""

    name = "inapp"

    def __init__(self) -> None:
        self.last: tuple[str, str] | None = None
        self.target_claims: dict[str, Any] = {}

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    def plugin_settings(self) -> dict[str, Any]:
        return settings()

    def products(self) -> dict[str, Any]:
        return PRODUCTS

    async def pay(self, d: Any, postback_url: str) -> str:
        reply = await d.call(
            "payment.createInAppRequest", {"product": "cake", "postback_url": postback_url}
        )
        claims = read_request(reply["result"]["jwt"])
        token, tx_id = notice(claims)
        url = claims["request"]["postbackURL"]
        self.last = (url, token)
        status, text = await post_notice(d.session, url, token)
        assert (status, text) == (200, tx_id)
        return str(reply["result"]["id"])

    async def replay(self, d: Any) -> None:
        assert self.last is not None
        await post_notice(d.session, *self.last)

    async def target(self, d: Any, postback_url: str) -> str:
        """An open in-app request for a forgery to aim at."""
        reply = await d.call(
            "payment.createInAppRequest", {"product": "cake", "postback_url": postback_url}
        )
        self.target_claims = read_request(reply["result"]["jwt"])
        return str(reply["result"]["id"])

    async def forge(self, d: Any) -> int:
        """The target request's postback notice, signed with another secret."""
        token, _ = notice(self.target_claims, secret="not-the-secret-" + "x" * 32)
        url = self.target_claims["request"]["postbackURL"]
        status, _ = await post_notice(d.session, url, token)
        return status

    def deterministic_call(self) -> tuple[str, dict[str, Any]]:
        return "payment.getInAppConfig", {}


DRIVER = InAppDriver

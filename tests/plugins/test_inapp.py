"""JWT in-app plugin over the real daemon: PyJWT on both sides, real HTTP, SQLite."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from xbtcpay_inapp.tokens import payment_id_in, product_data

from tests.harness import PostbackReceiver, running_daemon
from tests.plugins.drivers.inapp import (
    APP_KEY,
    AUDIENCE,
    CHARGEBACK_TYP,
    POSTBACK_TYP,
    PRODUCTS,
    REQUEST_TYP,
    SECRET,
    notice,
    post_notice,
    read_request,
    settings,
)
from xbtcpay.core.errors import PluginError

SEED_REQUEST_FIELDS = {
    "name",
    "description",
    "price",
    "defaultPrice",
    "productData",
    "postbackURL",
    "chargebackURL",
}


def config(**extra: Any) -> dict[str, Any]:
    return {"plugins": {"inapp": {**settings(), **extra}}, "products": PRODUCTS}


async def create(d: Any, **params: Any) -> dict[str, Any]:
    reply = await d.call("payment.createInAppRequest", params)
    assert "result" in reply, reply
    return dict(reply["result"])


async def event_count(d: Any) -> int:
    return int((await d.runtime.db.fetchone("SELECT COUNT(*) FROM payment_events"))[0])


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def hand_signed(claims: dict[str, Any], key: bytes, alg: str = "HS256") -> str:
    """A JWS built by hand, so any key can be (mis)used as an HMAC secret."""
    head = b64url(json.dumps({"alg": alg, "typ": "JWT"}).encode())
    body = b64url(json.dumps(claims).encode())
    mac = hmac.new(key, f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{b64url(mac)}"


async def test_request_jwt_carries_the_seed_fields(tmp_path: Path) -> None:
    async with running_daemon(tmp_path, config()) as d:
        answer = await create(d, product="cake", customer="u1", productData="sku=1&s=XYZ")
        header = jwt.get_unverified_header(answer["jwt"])
        assert header["alg"] == "HS256"
        with pytest.raises(jwt.InvalidSignatureError):
            jwt.decode(answer["jwt"], SECRET + "x", algorithms=["HS256"], audience=AUDIENCE)
        claims = read_request(answer["jwt"])
        assert (claims["iss"], claims["aud"], claims["typ"]) == (APP_KEY, AUDIENCE, REQUEST_TYP)
        assert claims["exp"] - claims["iat"] == 3600 and abs(claims["iat"] - time.time()) < 5
        request = claims["request"]
        assert set(request) >= SEED_REQUEST_FIELDS
        assert request["name"] == "Piece of Cake"
        assert request["description"] == PRODUCTS["cake"]["description"]
        assert request["price"] == [{"country": "US", "currency": "USD", "amount": "5.50"}]
        assert request["defaultPrice"] == "US"
        assert request["productData"] == f"xbtcpay_payment_id={answer['id']}&sku=1&s=XYZ"
        assert request["postbackURL"] == d.public_url + "/inapp/postback"
        assert request["chargebackURL"] == d.public_url + "/inapp/chargeback"
        _, doc = await d.status(answer["id"])
        assert (doc["status"], doc["amount"], doc["asset"]) == ("new", "5.50", "USD")
        assert doc["expires_at"] == claims["iat"] + 3600 + 86400  # JWT lifetime + postback grace


async def test_explicit_price_list_uses_the_default_price(tmp_path: Path) -> None:
    prices = [
        {"country": "US", "currency": "USD", "amount": "5.50"},
        {"country": "BR", "currency": "BRL", "amount": "8.50"},
    ]
    async with running_daemon(tmp_path, config(algorithm="HS512", secret=SECRET * 2)) as d:
        answer = await create(
            d,
            name="Piece of Cake",
            description="Cake",
            price=prices,
            defaultPrice="BR",
            pricePoint=3,
        )
        claims = jwt.decode(answer["jwt"], SECRET * 2, algorithms=["HS512"], audience=AUDIENCE)
        assert claims["request"]["price"] == prices and claims["request"]["pricePoint"] == 3
        _, doc = await d.status(answer["id"])
        assert (doc["amount"], doc["asset"]) == ("8.50", "BRL")
        for bad in (
            {"name": "x", "description": "y", "price": prices},
            {"name": "x", "description": "y", "price": [{"country": "USA"}]},
            {"name": "x", "price": prices[:1]},
            {"product": "nope"},
            {"product": "cake", "currency": "EUR"},
            {"product": "cake", "amount": "1.00"},
        ):
            reply = await d.call("payment.createInAppRequest", bad)
            assert reply["error"]["code"] == -32602, (bad, reply)
        assert await d.runtime.payments.count_by_status() == {"new": 1}


async def test_signed_postback_pays_and_replies_the_transaction_id(
    tmp_path: Path, receiver: PostbackReceiver
) -> None:
    async with running_daemon(tmp_path, config()) as d:
        answer = await create(d, product="cake", postback_url=receiver.url, data={"o": 1})
        claims = read_request(answer["jwt"])
        token, tx_id = notice(claims, price={"amount": "5.50", "currency": "USD"})
        async with d.session.post(claims["request"]["postbackURL"], data={"notice": token}) as resp:
            assert resp.status == 200 and resp.content_type == "text/plain"
            assert await resp.text() == tx_id
        [got] = await receiver.wait_for(1)
        assert (got["json"]["id"], got["json"]["event"]) == (answer["id"], "paid")
        payment = await d.runtime.payments.get(answer["id"])
        assert payment.provider_ref == tx_id and payment.status.value == "paid"
        assert payment.extra["postback"]["price"] == {"amount": "5.50", "currency": "USD"}
        before = await event_count(d)
        async with d.session.post(
            claims["request"]["postbackURL"], json={"notice": token}
        ) as resp:  # replay, as JSON
            assert resp.status == 200 and await resp.text() == tx_id
        assert await event_count(d) == before and len(receiver.received) == 1


@pytest.mark.parametrize(
    "reason,state,event",
    [("refund", "refunded", "refunded"), ("chargeback", "charged_back", "charged_back")],
)
async def test_chargeback(
    reason: str, state: str, event: str, tmp_path: Path, receiver: PostbackReceiver
) -> None:
    async with running_daemon(tmp_path, config()) as d:
        answer = await create(d, product="cake", postback_url=receiver.url)
        claims = read_request(answer["jwt"])
        token, tx_id = notice(claims)
        assert await post_notice(d.session, claims["request"]["postbackURL"], token) == (200, tx_id)
        back, _ = notice(claims, CHARGEBACK_TYP, transaction_id=tx_id, reason=reason)
        url = claims["request"]["chargebackURL"]
        assert await post_notice(d.session, url, back) == (200, tx_id)
        _, got = await receiver.wait_for(2)
        assert got["json"]["event"] == event and got["json"]["reason"] == reason
        _, doc = await d.status(answer["id"])
        assert doc["status"] == state
        before = await event_count(d)
        assert await post_notice(d.session, url, back) == (200, tx_id)
        assert await event_count(d) == before and len(receiver.received) == 2


def _claims(request_claims: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {
        "iss": AUDIENCE,
        "aud": APP_KEY,
        "typ": POSTBACK_TYP,
        "iat": now,
        "exp": now + 600,
        "request": request_claims["request"],
        "response": {"transactionID": "webpay:forged"},
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def _rsa() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _public_pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


FORGERIES: dict[str, Callable[[dict[str, Any]], str]] = {
    "alg none": lambda r: jwt.encode(_claims(r), None, algorithm="none"),  # type: ignore[arg-type]
    "RS256 signed": lambda r: jwt.encode(_claims(r), _rsa(), algorithm="RS256"),
    "HS256 with a public key": lambda r: hand_signed(_claims(r), _public_pem(_rsa())),
    "wrong secret": lambda r: jwt.encode(_claims(r), "another-secret-" + "z" * 32, "HS256"),
    "wrong aud": lambda r: jwt.encode(_claims(r, aud="other-app"), SECRET, "HS256"),
    "wrong iss": lambda r: jwt.encode(_claims(r, iss="evil.test"), SECRET, "HS256"),
    "expired": lambda r: jwt.encode(_claims(r, exp=int(time.time()) - 120), SECRET, "HS256"),
    "missing exp": lambda r: jwt.encode(_claims(r, exp=None), SECRET, "HS256"),
    "missing iat": lambda r: jwt.encode(_claims(r, iat=None), SECRET, "HS256"),
    "future iat": lambda r: jwt.encode(_claims(r, iat=int(time.time()) + 600), SECRET, "HS256"),
    "wrong typ": lambda r: jwt.encode(_claims(r, typ=CHARGEBACK_TYP), SECRET, "HS256"),
    "HS512 not allowed": lambda r: jwt.encode(_claims(r), SECRET * 2, "HS512"),
    "no transactionID": lambda r: jwt.encode(_claims(r, response={}), SECRET, "HS256"),
    "not a JWT": lambda r: "hello",
}


@pytest.mark.parametrize("case", sorted(FORGERIES))
async def test_unverifiable_notices_change_nothing(
    case: str, tmp_path: Path, receiver: PostbackReceiver
) -> None:
    async with running_daemon(tmp_path, config()) as d:
        answer = await create(d, product="cake", postback_url=receiver.url)
        request_claims = read_request(answer["jwt"])
        before = await event_count(d)
        status, _ = await post_notice(
            d.session, d.public_url + "/inapp/postback", FORGERIES[case](request_claims)
        )
        assert status == 400
        assert await event_count(d) == before
        _, doc = await d.status(answer["id"])
        assert doc["status"] == "new" and receiver.attempts == 0


async def test_notice_for_an_unknown_payment_is_refused(tmp_path: Path) -> None:
    async with running_daemon(tmp_path, config()) as d:
        token, _ = notice({"request": {"productData": "xbtcpay_payment_id=nope-nope-nope"}})
        assert (await post_notice(d.session, d.public_url + "/inapp/postback", token))[0] == 400
        async with d.session.post(
            d.public_url + "/inapp/postback",
            data=b"\xff",
            headers={"Content-Type": "application/json"},
        ) as resp:
            assert resp.status == 400
        assert await d.runtime.payments.count_by_status() == {}


async def test_config_method_never_shows_the_secret(tmp_path: Path) -> None:
    async with running_daemon(tmp_path, config()) as d:
        reply = await d.call("payment.getInAppConfig", {})
        assert reply["result"]["appKey"] == APP_KEY and SECRET not in json.dumps(reply)
        assert reply["result"]["postbackURL"] == d.public_url + "/inapp/postback"


@pytest.mark.parametrize(
    "extra,problem",
    [
        ({"algorithm": "RS256"}, "algorithm"),
        ({"algorithms": ["HS256", "RS256"]}, "algorithms"),
        ({"algorithms": ["none"]}, "algorithms"),
        ({"secret": "short"}, "secret: at least 32 bytes"),
        ({"audience": None}, "audience"),
    ],
)
async def test_unsafe_settings_stop_start_up(
    extra: dict[str, Any], problem: str, tmp_path: Path
) -> None:
    with pytest.raises(PluginError, match=problem) as info:
        async with running_daemon(tmp_path, config(**extra)):
            pass
    assert SECRET not in str(info.value)


def test_shop_product_data_cannot_redirect_a_notice() -> None:
    data = product_data("ours-123", "xbtcpay_payment_id=theirs-456&sku=1")
    assert data.startswith("xbtcpay_payment_id=ours-123&")
    assert payment_id_in(data) == "ours-123"
    assert payment_id_in("sku=1") is None and payment_id_in(None) is None

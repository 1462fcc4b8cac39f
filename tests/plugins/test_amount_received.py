"""What paid in-app and App Store payments report as received, and a seller-signed in-app
request's postback: real daemon, real HTTP, the real JWT and Apple verification."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import jwt
import pytest

from tests.fakes.apple import AppleChain, AppleSigner
from tests.fakes.verify_receipt_server import VerifyReceiptServer
from tests.harness import PostbackReceiver, running_daemon
from tests.plugins.drivers.appstore import BUNDLE_ID, COINS
from tests.plugins.drivers.appstore import PRODUCTS as STORE_PRODUCTS
from tests.plugins.drivers.inapp import (
    APP_KEY,
    AUDIENCE,
    PRODUCTS,
    REQUEST_TYP,
    SECRET,
    notice,
    post_notice,
    read_request,
    settings,
)


def inapp_config() -> dict[str, Any]:
    return {"plugins": {"inapp": settings()}, "products": PRODUCTS}


async def paid_in_app(d: Any, receiver: PostbackReceiver, **price: Any) -> dict[str, Any]:
    reply = await d.call(
        "payment.createInAppRequest", {"product": "cake", "postback_url": receiver.url}
    )
    claims = read_request(reply["result"]["jwt"])
    token, tx_id = notice(claims, price=price) if price else notice(claims)
    assert await post_notice(d.session, claims["request"]["postbackURL"], token) == (200, tx_id)
    [got] = await receiver.wait_for(1)
    return dict(got["json"])


@pytest.mark.parametrize(
    "price,received",
    [
        ({}, "5.50"),  # no price stated: the signed request's price was charged
        ({"amount": "5.50", "currency": "USD"}, "5.50"),
        ({"amount": "6.00", "currency": "usd"}, "6.00"),
    ],
)
async def test_a_paid_in_app_payment_reports_what_was_received(
    price: dict[str, str], received: str, tmp_path: Path, receiver: PostbackReceiver
) -> None:
    async with running_daemon(tmp_path, inapp_config()) as d:
        body = await paid_in_app(d, receiver, **price)
        assert body["event"] == "paid" and body["amount"] == "5.50"
        assert body["amount_received"] == received
        _, doc = await d.status(body["id"])
        assert doc["amount_received"] == received


def seller_signed_request() -> dict[str, Any]:
    """What a shop's own server signed before it used xbtcpay (no payment id of ours)."""
    now = int(time.time())
    claims = {
        "iss": APP_KEY,
        "aud": AUDIENCE,
        "typ": REQUEST_TYP,
        "iat": now,
        "exp": now + 3600,
        "request": {
            "name": "Piece of Cake",
            "description": "Cake",
            "price": [{"country": "US", "currency": "USD", "amount": "5.50"}],
            "defaultPrice": "US",
            "productData": "my_product_id=1234&my_session_id=XYZ",
            "postbackURL": "http://127.0.0.1/inapp/postback",
            "chargebackURL": "http://127.0.0.1/inapp/chargeback",
        },
    }
    return read_request(jwt.encode(claims, SECRET, algorithm="HS256"))


async def test_a_seller_signed_requests_postback_is_refused_once_and_for_all(
    tmp_path: Path,
) -> None:
    async with running_daemon(tmp_path, inapp_config()) as d:
        token, tx_id = notice(seller_signed_request())
        for _ in range(2):  # a provider that retried would get the same final answer
            async with d.session.post(
                d.public_url + "/inapp/postback", data={"notice": token}
            ) as resp:
                assert resp.status == 200 and await resp.text() == tx_id
                assert "xbtcpay_payment_id" in resp.headers["X-Xbtcpay-Refused"]
        assert await d.runtime.payments.count_by_status() == {}
        events = await d.runtime.db.fetchone("SELECT COUNT(*) FROM payment_events")
        assert events[0] == 0
        # a forged one is still a plain 400
        forged, _ = notice(seller_signed_request(), secret=SECRET + "x")
        assert (await post_notice(d.session, d.public_url + "/inapp/postback", forged))[0] == 400


@pytest.fixture
async def apple() -> AsyncIterator[VerifyReceiptServer]:
    server = VerifyReceiptServer(shared_secret="s3cret")
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


def store_config(tmp_path: Path, chain: AppleChain, apple: VerifyReceiptServer) -> dict[str, Any]:
    root = tmp_path / "root.pem"
    root.write_bytes(chain.root_pem)
    return {
        "plugins": {
            "appstore": {
                "bundle_id": BUNDLE_ID,
                "environment": "sandbox",
                "root_certificates": [str(root)],
                "products": list(STORE_PRODUCTS),
                "verify_receipt_url": apple.production_url,
                "verify_receipt_sandbox_url": apple.sandbox_url,
                "shared_secret": "s3cret",
            }
        },
        "products": STORE_PRODUCTS,
    }


@pytest.mark.parametrize(
    "charged,quantity,status,received",
    [(9990, 1, "paid", "9.990"), (9990, 2, "paid", "19.980"), (4990, 1, "paid", "4.990")],
)
async def test_an_app_store_payment_reports_what_apple_charged(
    charged: int,
    quantity: int,
    status: str,
    received: str,
    tmp_path: Path,
    apple: VerifyReceiptServer,
    receiver: PostbackReceiver,
) -> None:
    chain = AppleChain.mint()
    signer = AppleSigner(chain, bundle_id=BUNDLE_ID, environment="Sandbox")
    jws, _ = signer.transaction(COINS, price=charged, currency="USD", quantity=quantity)
    async with running_daemon(tmp_path, store_config(tmp_path, chain, apple)) as d:
        reply = await d.call(
            "payment.validateAppStore", {"receipt": jws, "postback_url": receiver.url}
        )
        result = reply["result"]
        assert result["status"] == status
        _, doc = await d.status(result["id"])
        assert doc["amount_received"] == received
        if status == "paid":
            [got] = await receiver.wait_for(1)
            assert got["json"]["amount_received"] == got["json"]["amount"] == received

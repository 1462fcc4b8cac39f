"""Opaque session ids (sessions.introspect_url): a Valuverse app written from its payment API
page (tests/clients/valuverse_app.py) holds the id its shop's login gave it, and only the
base URL changes; the shop answers introspection on loopback (tests/fakes/session_service.py).
Every method's success path and refusals; the cache; fail-closed when the shop is down."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.clients.nexx_frontend import NexxPaymentClient
from tests.clients.valuverse_app import ValuverseApp
from tests.commerce.media import Clock
from tests.commerce.setup import PRODUCTS as SHOP_PRODUCTS
from tests.commerce.setup import commerce, session
from tests.commerce.test_top_ups import braintree_plugin, stripe_plugin
from tests.fakes.apple import AppleChain, AppleSigner
from tests.fakes.braintree_server import FakeBraintree
from tests.fakes.session_service import SessionService
from tests.fakes.stripe_server import FakeStripe
from tests.harness import base_config, running_daemon, write_config
from xbtcpay.app.config import parse_config
from xbtcpay.core.errors import ConfigError

BUNDLE_ID = "com.example.valuverse"
COINS_ID = "com.example.valuverse.coins"
PRODUCTS: dict[str, Any] = {
    **SHOP_PRODUCTS,
    "coins": {"type": "one_time", "prices": {"USD": "9.99"}, "appstore_product_id": COINS_ID},
    "monthly": {"type": "subscription", "prices": {"AUD": "4.99"}, "braintree_plan": "plan-m"},
}


@pytest.fixture
async def shop() -> AsyncIterator[SessionService]:
    async with SessionService() as service:
        yield service


@pytest.fixture
async def braintree() -> AsyncIterator[FakeBraintree]:
    fake = FakeBraintree(merchant_accounts={"aud-account": "AUD"})
    fake.add_plan("plan-m", "4.99", "AUD")
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture
async def stripe() -> AsyncIterator[FakeStripe]:
    fake = FakeStripe()
    await fake.start()
    yield fake
    await fake.stop()


def sessions(shop: SessionService, **extra: Any) -> dict[str, Any]:
    return {"sessions": {"introspect_url": shop.url, "introspect_secret": shop.secret, **extra}}


def config(shop: SessionService, plugins: dict[str, Any], **extra: Any) -> dict[str, Any]:
    base = commerce(plugins=plugins)
    return {**base, **sessions(shop, **extra), "products": PRODUCTS}


def ok(reply: dict[str, Any]) -> Any:
    assert reply["error"]["status"] is False, reply
    return reply["data"]


def refused(reply: dict[str, Any], code: int) -> str:
    assert reply["error"]["status"] is True and reply["error"]["code"] == code, reply
    assert reply["data"] is None
    return str(reply["error"]["message"])


async def test_a_valuverse_app_pays_with_its_shops_session_id(
    tmp_path: Path, shop: SessionService, braintree: FakeBraintree, stripe: FakeStripe
) -> None:
    chain = AppleChain.mint()
    root = tmp_path / "root.pem"
    root.write_bytes(chain.root_pem)
    plugins = {
        **braintree_plugin(braintree),
        **stripe_plugin(stripe),
        "appstore": {
            "bundle_id": BUNDLE_ID,
            "environment": "sandbox",
            "root_certificates": [str(root)],
            "products": ["coins"],
        },
    }
    async with running_daemon(tmp_path, config(shop, plugins)) as d:
        session_id = shop.login("val-7", int(time.time()) + 3600, network="1")
        async with ValuverseApp(
            d.session, session_id, base_url=d.public_url, network_id="1"
        ) as app:
            status, reply = await app.create_stripe_checkout_session(
                product="buying_increase_balance",
                amount=25.5,
                successUrl="https://valuverse.example/ok",
                cancelUrl="https://valuverse.example/no",
            )
            assert status == 200 and ok(reply)["url"].startswith("http"), reply
            over_ws = ok(
                await app.stripe_checkout_over_ws(
                    product="buying_increase_balance",
                    amount=10,
                    successUrl="https://valuverse.example/ok",
                    cancelUrl="https://valuverse.example/no",
                )
            )
            assert over_ws["url"]
            assert ok(await app.braintree_client_token())["token"]
            paid = ok(
                await app.process_braintree_payment(
                    paymentNonce="fake-valid-nonce", product="gem_pack"
                )
            )
            assert paid["status"] == "success", paid
            sub = ok(
                await app.process_braintree_payment(
                    paymentNonce="fake-valid-nonce", product="monthly"
                )
            )
            assert sub["status"] == "success", sub
            listed = ok(await app.braintree_subscriptions())
            assert [s["planId"] for s in listed["subscriptions"]] == ["plan-m"]
            assert ok(await app.cancel_braintree_subscription("monthly"))["status"] == "success"
            assert ok(await app.braintree_subscriptions())["subscriptions"] == []
            signer = AppleSigner(chain, bundle_id=BUNDLE_ID, environment="Sandbox")
            jws, _ = signer.transaction(COINS_ID, price=9990, currency="USD")
            assert ok(await app.validate_app_store(jws))["valid"] is True
            declined = await app.process_braintree_payment(
                paymentNonce="fake-processor-declined-visa-nonce", product="gem_pack"
            )
            assert ok(declined)["status"] == "failed"
            other = await app.process_braintree_payment(
                paymentNonce="fake-valid-nonce", product="gem_pack", customer="someone"
            )
            refused(other, -32003)
            refused(await app.call("balance:adjust", {"currency": "AUD", "amount": "5"}), -32003)
            assert ok(await app.validate_app_store("not-a-receipt"))["valid"] is False
        payments = await d.call("list_payments", {"customer": "val-7"})
        methods = sorted(p["method"] for p in payments["result"]["payments"])
        assert methods.count("braintree") >= 2 and "appstore" in methods and "stripe" in methods


async def test_inactive_expired_and_wrong_network_ids_are_refused(
    tmp_path: Path, shop: SessionService
) -> None:
    async with running_daemon(tmp_path, config(shop, {})) as d:
        live = shop.login("val-8", int(time.time()) + 3600, network="1")
        gone = shop.login("val-9", int(time.time()) - 10)
        for session_id, network, why in (
            ("vv_never-issued", None, "session not active"),
            (gone, None, "session expired"),
            (live, "2", "X-Network-Id does not match"),
            ("spaces are not ids", None, "malformed session id"),
        ):
            app = ValuverseApp(d.session, session_id, base_url=d.public_url, network_id=network)
            status, reply = await app.rpc("balance.get", {})
            assert status == 401 and why in refused(reply, -32001), (session_id, reply)
        status, reply = await ValuverseApp(d.session, live, base_url=d.public_url).rpc(
            "balance.get", {}
        )
        assert status == 200 and ok(reply)["customer"] == "val-8"
        remembered = shop.login("val-8", int(time.time()) + 400 * 86400)  # past max_lifetime
        status, _ = await ValuverseApp(d.session, remembered, base_url=d.public_url).rpc(
            "balance.get", {}
        )
        assert status == 200


async def test_answers_are_cached_briefly_both_ways(tmp_path: Path, shop: SessionService) -> None:
    clock = Clock(time.time())
    async with running_daemon(
        tmp_path, config(shop, {}, introspect_cache=30, introspect_negative_cache=5), clock=clock
    ) as d:
        live = shop.login("val-10", int(clock.now) + 3600)
        app = ValuverseApp(d.session, live, base_url=d.public_url)
        for _ in range(3):
            assert (await app.rpc("balance.get", {}))[0] == 200
        assert shop.calls == 1
        shop.logout(live)  # the shop ends it: known within the positive cache time
        assert (await app.rpc("balance.get", {}))[0] == 200
        clock.advance(31)
        assert (await app.rpc("balance.get", {}))[0] == 401 and shop.calls == 2
        assert (await app.rpc("balance.get", {}))[0] == 401 and shop.calls == 2  # negative
        clock.advance(6)
        assert (await app.rpc("balance.get", {}))[0] == 401 and shop.calls == 3
        short = shop.login("val-11", int(clock.now) + 10)  # never cached past its exp
        app = ValuverseApp(d.session, short, base_url=d.public_url)
        assert (await app.rpc("balance.get", {}))[0] == 200
        clock.advance(11)
        assert (await app.rpc("balance.get", {}))[0] == 401


@pytest.mark.parametrize("failure", ["down", "stalled", "wrong secret", "private address"])
async def test_sessions_fail_closed_when_the_shop_cannot_answer(
    tmp_path: Path, shop: SessionService, failure: str, capsys: pytest.CaptureFixture[str]
) -> None:
    extra: dict[str, Any] = {"introspect_timeout": 0.5}
    overrides = config(shop, {}, **extra)
    if failure == "wrong secret":
        overrides["sessions"]["introspect_secret"] = "not-the-secret"
    if failure == "private address":
        overrides["postback"] = {"allow_private": False}
    async with running_daemon(tmp_path, overrides) as d:
        live = shop.login("val-12", int(time.time()) + 3600)
        shop.down = failure == "down"
        shop.stall = 5.0 if failure == "stalled" else 0.0
        app = ValuverseApp(d.session, live, base_url=d.public_url)
        status, reply = await app.rpc("balance.get", {})
        assert status == 503 and "session service" in refused(reply, -32013), reply
        async with d.session.get(f"{d.public_url}/ws?session={live}") as resp:
            assert resp.status == 503
        if failure == "private address":
            assert shop.calls == 0  # never connected
        shop.down, shop.stall = False, 0.0
        if failure in ("down", "stalled"):  # nothing was cached: it works once the shop is back
            assert (await app.rpc("balance.get", {}))[0] == 200
    logged = capsys.readouterr()
    assert "sessions.introspection" in logged.out + logged.err
    for secret in (live, shop.secret):  # neither the session id nor the bearer secret
        assert secret not in logged.out + logged.err


async def test_every_header_and_the_query_read_the_same_session(
    tmp_path: Path, shop: SessionService
) -> None:
    overrides = config(shop, {})
    overrides["sessions"].update(
        {"secret": "session-secret-of-the-shop-0123456789abcdef", "algorithms": ["HS256"]}
    )
    async with running_daemon(tmp_path, overrides) as d:
        opaque = shop.login("val-13", int(time.time()) + 3600)
        for token in (opaque, session("val-13")):  # an opaque id and a shop-signed JWT
            nexx = NexxPaymentClient(d.session, base_url=d.public_url, cid=token)
            assert (await nexx.itemstate(42)).http_status in (200, 404)
            for headers, query in (
                ({"X-Session-Id": token}, ""),
                ({"X-Request-CID": token}, ""),
                ({}, f"?session={token}"),
            ):
                async with d.session.post(
                    f"{d.public_url}/api/v0/rpc/balance.get{query}", json={}, headers=headers
                ) as resp:
                    body = await resp.json()
                    assert resp.status == 200 and body["data"]["customer"] == "val-13", body
        async with d.session.post(
            f"{d.public_url}/api/v0/rpc/balance.get",
            json={},
            headers={"X-Session-Id": opaque, "X-Request-CID": session("val-13")},
        ) as resp:
            assert resp.status == 401  # two different sessions in one request


@pytest.mark.parametrize(
    ("sessions_section", "problem"),
    [
        ({"introspect_url": "ftp://shop.example/x"}, "sessions.introspect_url"),
        (
            {"introspect_url": "https://shop.example/x", "introspect_timeout": 0},
            "sessions.introspect_timeout",
        ),
        ({"introspect_url": "https://shop.example/x", "introspect_cahce": 3}, "introspect_cahce"),
        ({"secret": "x" * 40, "introspect_cache": 3}, "only with sessions.introspect_url"),
    ],
)
def test_introspection_settings_are_checked_at_start(
    tmp_path: Path, sessions_section: dict[str, Any], problem: str
) -> None:
    raw = base_config(tmp_path, {"sessions": sessions_section})
    with pytest.raises(ConfigError) as failed:
        parse_config(raw, write_config(tmp_path, raw))
    assert problem in str(failed.value)

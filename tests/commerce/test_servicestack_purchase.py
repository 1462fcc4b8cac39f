"""ServiceStack-style clients of ``POST /User/Purchase`` (tests/clients/servicestack_client.py:
a JSON and a JSV client written from the service's page), changed only in base URL: every
payment source's success path and the refusals, with decimals as exact numbers and
ServiceStack's ResponseStatus on HTTP errors; ``commerce.default_card_provider`` with two
card plugins enabled."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.clients.servicestack_client import (
    JsonServiceClient,
    JsvServiceClient,
    WebServiceException,
    read_jsv,
)
from tests.commerce.setup import check_ledger, commerce, session
from tests.commerce.test_purchase_sources import vault
from tests.commerce.test_top_ups import braintree_plugin, stripe_plugin
from tests.fakes.braintree_server import FakeBraintree
from tests.fakes.stripe_vault import FakeStripeVault
from tests.harness import base_config, running_daemon, write_config
from xbtcpay.app.config import parse_config
from xbtcpay.app.daemon import Daemon
from xbtcpay.core.errors import ConfigError

CLIENTS = (JsonServiceClient, JsvServiceClient)


def diamonds_purchase(token: str) -> dict[str, Any]:
    return {"PurchaseToken": token, "Product": {"Token": "gem_pack"}, "UseDiamonds": True}


async def gift_diamonds(d: Any, customer: str, amount: str = "250") -> None:
    reply = await d.call(
        "balance.adjust",
        {
            "customer": customer,
            "currency": "diamonds",
            "amount": amount,
            "reason": "gift",
            "idempotency_key": f"gift-{customer}-diamonds",
        },
    )
    assert "result" in reply, reply


@pytest.mark.parametrize("client_type", CLIENTS)
async def test_an_app_buys_with_diamonds_and_reads_exact_decimals(
    tmp_path: Path, client_type: type[JsonServiceClient]
) -> None:
    async with running_daemon(tmp_path, commerce()) as d:
        await gift_diamonds(d, "alice")
        app = client_type(d.session, d.public_url, **{"X-Session-Id": session("alice")})
        answer = await app.purchase(diamonds_purchase("tok-ss-diamonds-1"))
        assert answer["PaymentSuccess"] in (True, "True") and answer["PaymentResponse"] == "Success"
        amount = answer["Receipt"]["Amount"]
        assert {k: Decimal(v) for k, v in amount.items()} == {
            "Total": Decimal(100),
            "Tax": Decimal(0),
            "AmountLessTax": Decimal(100),
        }
        assert answer["Receipt"]["ReceiptNumber"] == "XB-000001"
        assert await app.purchase(diamonds_purchase("tok-ss-diamonds-1")) == answer  # replay
        poor = await app.purchase(diamonds_purchase("tok-ss-diamonds-2"))
        poor = await app.purchase(diamonds_purchase("tok-ss-diamonds-3"))
        assert poor["PaymentResponse"] == "InsufficientBalance" and poor["ErrorCode"] == "E101"
        check_ledger(tmp_path)


@pytest.mark.parametrize("client_type", CLIENTS)
async def test_refusals_carry_the_response_status(
    tmp_path: Path, client_type: type[JsonServiceClient]
) -> None:
    async with running_daemon(tmp_path, commerce()) as d:
        await gift_diamonds(d, "carol")
        anonymous = client_type(d.session, d.public_url)
        with pytest.raises(WebServiceException) as missing:
            await anonymous.purchase(diamonds_purchase("tok-ss-anon-1"))
        assert missing.value.status == 401 and missing.value.error_code == "Unauthorized"
        assert "missing session" in missing.value.response_status["Message"]
        assert missing.value.response_status["Errors"] in ([], None)
        app = client_type(d.session, d.public_url, **{"X-Session-Id": session("carol")})
        with pytest.raises(WebServiceException) as other:
            await app.purchase({**diamonds_purchase("tok-ss-other-1"), "customer": "dave"})
        assert other.value.status == 403 and other.value.error_code == "Forbidden"
        await app.purchase(diamonds_purchase("tok-ss-dup-1"))
        with pytest.raises(WebServiceException) as dup:
            await app.purchase({**diamonds_purchase("tok-ss-dup-1"), "Product": {"Token": "sword"}})
        assert dup.value.status == 409 and dup.value.error_code == "DuplicatePurchase"
        assert dup.value.body["PaymentResponse"] == "DuplicatePurchase"
        with pytest.raises(WebServiceException) as flag:
            await app.purchase({**diamonds_purchase("tok-ss-flag-1"), "UseDiamonds": "yes"})
        assert flag.value.status == 400 and "UseDiamonds" in flag.value.response_status["Message"]
        [field] = flag.value.response_status["Errors"]
        assert field["FieldName"] == "UseDiamonds" and field["ErrorCode"] == "Invalid"
        card = {
            **diamonds_purchase("tok-ss-card-1"),
            "Card": {"Number": "4111 1111 1111 1111", "Month": 12, "Year": 30, "CCV": "123"},
        }
        refused = await app.purchase(card)
        assert refused["PaymentResponse"] == "RawCardRefused" and "4111" not in str(refused)
        unknown = await app.purchase(
            {**diamonds_purchase("tok-ss-unknown-1"), "Product": {"Token": "nope"}}
        )
        assert unknown["PaymentSuccess"] in (False, "False")
        assert unknown["PaymentResponse"] == "InvalidProduct"


async def test_formats_by_suffix_query_and_headers(tmp_path: Path) -> None:
    async with running_daemon(tmp_path, commerce()) as d:
        await gift_diamonds(d, "erin", "1000")
        headers = {"X-Session-Id": session("erin")}
        url = d.public_url + "/User/Purchase"
        jsv_body = "{PurchaseToken:tok-ss-fmt-1,Product:{Token:gem_pack},UseDiamonds:True}"
        for target, data, extra, kind in (
            (url + ".jsv", jsv_body, {"Content-Type": "text/jsv"}, "text/jsv"),
            (
                url + "?format=jsv",
                '{"PurchaseToken":"tok-ss-fmt-2","Product":{"Token":"gem_pack"},'
                '"UseDiamonds":true}',
                {"Content-Type": "application/json"},
                "text/jsv",
            ),
            (
                url + ".json",
                jsv_body.replace("fmt-1", "fmt-3"),
                {"Content-Type": "text/jsv"},
                "application/json",
            ),
            (
                url + "?format=json",
                jsv_body.replace("fmt-1", "fmt-4"),
                {"Content-Type": "text/jsv", "Accept": "text/jsv"},
                "application/json",
            ),
            (url, jsv_body.replace("fmt-1", "fmt-5"), {"Content-Type": "text/jsv"}, "text/jsv"),
        ):
            async with d.session.post(target, data=data, headers={**headers, **extra}) as resp:
                text = await resp.text()
                assert resp.status == 200 and resp.content_type == kind, (target, text)
            answer = read_jsv(text) if kind == "text/jsv" else None
            if answer is not None:
                assert answer["PaymentResponse"] == "Success", text
                assert answer["Receipt"]["Amount"]["Total"] == "100" and "Total:100" in text
            else:
                assert '"Total":100' in text, text
        async with d.session.post(
            url, data="{PurchaseToken:[unclosed", headers={**headers, "Content-Type": "text/jsv"}
        ) as resp:
            text = await resp.text()
            assert resp.status == 400 and resp.content_type == "text/jsv"
            assert read_jsv(text)["ResponseStatus"]["Message"] == "body must be JSV"
        async with d.session.post(
            url, data=b"not json", headers={**headers, "Content-Type": "application/json"}
        ) as resp:
            assert resp.status == 400
            assert (await resp.json())["ResponseStatus"]["ErrorCode"] == "InvalidRequest"
        lower = {
            "purchasetoken": "tok-ss-case-1",
            "product": {"token": "gem_pack"},
            "usediamonds": True,
        }
        async with d.session.post(url, json=lower, headers=headers) as resp:
            assert (await resp.json())["PaymentResponse"] == "Success"


async def test_the_private_port_takes_jsv_from_the_shop(tmp_path: Path) -> None:
    async with running_daemon(tmp_path, commerce()) as d:
        await gift_diamonds(d, "gina")
        shop = JsvServiceClient(d.session, d.rpc_url)
        answer = await shop.purchase({**diamonds_purchase("tok-ss-shop-1"), "customer": "gina"})
        assert answer["PaymentResponse"] == "Success", answer
        async with d.session.post(
            d.rpc_url + "/User/Purchase",
            data="{customer:gina}",
            headers={"Content-Type": "text/jsv", "Origin": "https://evil.example"},
        ) as resp:
            assert resp.status == 403  # still not from a browser


@pytest.fixture
async def braintree() -> AsyncIterator[FakeBraintree]:
    f = FakeBraintree(merchant_accounts={"aud-account": "AUD"})
    await f.start()
    yield f
    await f.stop()


@pytest.fixture
async def stripe() -> AsyncIterator[FakeStripeVault]:
    f = FakeStripeVault()
    await f.start()
    yield f
    await f.stop()


def card_plugins(braintree: FakeBraintree, stripe: FakeStripeVault) -> dict[str, Any]:
    return {**braintree_plugin(braintree), **stripe_plugin(stripe)}


async def test_a_stored_card_with_two_card_plugins_uses_the_default_provider(
    tmp_path: Path, braintree: FakeBraintree, stripe: FakeStripeVault
) -> None:
    await vault(braintree, "hank")
    stored = {
        "PurchaseToken": "tok-ss-stored-1",
        "Product": {"Token": "gem_pack"},
        "Currency": "AUD",
        "UseStoredCard": True,
    }
    plugins = card_plugins(braintree, stripe)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    async with running_daemon(tmp_path / "a", commerce(plugins=plugins)) as d:
        app = JsonServiceClient(d.session, d.public_url, **{"X-Session-Id": session("hank")})
        answer = await app.purchase(stored)
        assert (
            answer["PaymentResponse"] == "ProviderError"
            and "name the provider" in (answer["ErrorMessage"])
        )
    config = {**commerce(plugins=plugins), "commerce": {"default_card_provider": "braintree"}}
    async with running_daemon(tmp_path / "b", config) as d:
        headers = {"X-Session-Id": session("hank")}
        app = JsonServiceClient(d.session, d.public_url, **headers)
        answer = await app.purchase(stored)
        assert answer["PaymentResponse"] == "Success", answer
        assert answer["Receipt"]["CreditCardNumber"] == "Visa **** 1111"
        amount = answer["Receipt"]["Amount"]  # JSON numbers, read as exact decimals
        assert [str(amount[k]) for k in ("Total", "Tax", "AmountLessTax")] == [
            "11.00",
            "1.00",
            "10.00",
        ]
        jsv_app = JsvServiceClient(d.session, d.public_url, **headers)
        again = await jsv_app.purchase({**stored, "PurchaseToken": "tok-ss-stored-3"})
        assert again["Receipt"]["Amount"] == {
            "Total": "11.00",
            "Tax": "1.00",
            "AmountLessTax": "10.00",
        }
        named = await app.purchase(
            {**stored, "PurchaseToken": "tok-ss-stored-2", "Provider": "stripe"}
        )
        assert named["PaymentResponse"] == "NoStoredCard", named  # hank saved none at Stripe
        check_ledger(tmp_path / "b")


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("paypal", "'paypal' is not an enabled card plugin"),
        (7, "commerce.default_card_provider: the name of an enabled card plugin"),
    ],
)
async def test_a_wrong_default_card_provider_stops_start_up(
    tmp_path: Path, value: Any, problem: str, braintree: FakeBraintree, stripe: FakeStripeVault
) -> None:
    raw = base_config(
        tmp_path,
        {
            **commerce(plugins=card_plugins(braintree, stripe)),
            "commerce": {"default_card_provider": value},
        },
    )
    with pytest.raises(ConfigError) as failed:
        config = parse_config(raw, write_config(tmp_path, raw))
        async with Daemon(config, watcher=False):
            pass
    assert problem in str(failed.value)

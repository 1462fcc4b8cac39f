"""The Braintree plugin in a real daemon, with the real braintree SDK against the fake gateway."""

from __future__ import annotations

import asyncio
import base64
import json
import warnings
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.braintree_server import FakeBraintree
from tests.harness import PostbackReceiver, running_daemon, wait_until
from xbtcpay.core.errors import PluginError

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import braintree

PRODUCTS = {
    "gold": {"type": "one_time", "prices": {"USD": "9.99"}},
    "monthly": {"type": "subscription", "prices": {"USD": "4.99"}, "braintree_plan": "plan-m"},
    "no_plan": {"type": "subscription", "prices": {"USD": "4.99"}},
}
OK, DECLINED, FRAUD = (
    "fake-valid-nonce",
    "fake-processor-declined-visa-nonce",
    "fake-gateway-rejected-fraud-nonce",
)


@pytest.fixture
async def fake() -> AsyncIterator[FakeBraintree]:
    f = FakeBraintree()
    f.add_plan("plan-m", "4.99")
    await f.start()
    yield f
    await f.stop()


def overrides(fake: FakeBraintree, **settings: Any) -> dict[str, Any]:
    section = {
        "environment": "custom",
        "gateway_url": fake.gateway_url,
        "merchant_id": fake.merchant_id,
        "public_key": fake.public_key,
        "private_key": fake.private_key,
        "reconcile_interval": 3600,
        **settings,
    }
    return {"plugins": {"braintree": section}, "products": PRODUCTS}


def sdk(fake: FakeBraintree, private_key: str | None = None) -> Any:
    """A gateway object of our own, to make the SDK's signed sample notifications."""
    env = braintree.Environment(
        "fake", "127.0.0.1", str(fake.port), "http://127.0.0.1", False, None
    )
    return braintree.BraintreeGateway(
        braintree.Configuration(
            env, fake.merchant_id, fake.public_key, private_key or fake.private_key
        )
    )


def hook(d: Any) -> str:
    return f"{d.public_url}/webhooks/braintree"


async def pay(d: Any, nonce: str = OK, product: str = "gold", **params: Any) -> dict[str, Any]:
    reply = await d.call(
        "payment.processBraintreePayment", {"paymentNonce": nonce, "product": product, **params}
    )
    assert "result" in reply, reply
    return dict(reply["result"])


async def payment(d: Any, pid: str) -> Any:
    return await d.runtime.payments.get(pid)


async def test_client_token(tmp_path: Path, fake: FakeBraintree) -> None:
    async with running_daemon(tmp_path, overrides(fake)) as d:
        plain = (await d.call("payment.getBraintreeClientToken", {}))["result"]["token"]
        unknown = (await d.call("payment.getBraintreeClientToken", {"customer": "new-user"}))[
            "result"
        ]["token"]
        assert (
            plain == unknown
            and json.loads(base64.b64decode(plain))["merchantId"] == fake.merchant_id
        )
        await pay(d, product="monthly", customer="known-user")
        bound = (await d.call("payment.getBraintreeClientToken", {"customer": "known-user"}))[
            "result"
        ]["token"]
        assert bound != plain
        ws = await d.ws_call("payment:getBraintreeClientToken", {})
        assert ws["data"] == {"token": plain} and ws["error"]["status"] is False
        bad = await d.call("payment.getBraintreeClientToken", {"customer": "no spaces!"})
        assert bad["error"]["code"] == -32602


async def test_sale_paid_then_settled(
    tmp_path: Path, fake: FakeBraintree, receiver: PostbackReceiver
) -> None:
    async with running_daemon(tmp_path, overrides(fake)) as d:
        got = await pay(d, postback_url=receiver.url, data={"sku": 1}, customer="u1", amount="9.99")
        assert got["status"] == "success" and "reason" not in got
        tx = fake.transactions[got["transactionId"]]
        assert tx["order_id"] == got["id"] and tx["amount"] == "9.99"
        assert tx["status"] == "submitted_for_settlement"
        sale = next(r for r in fake.requests if r["path"].endswith("/transactions"))
        assert sale["body"]["transaction"]["options"]["submit_for_settlement"] is True
        assert sale["headers"]["X-ApiVersion"] == "6"
        [postback] = await receiver.wait_for(1)
        assert postback["json"]["event"] == "paid" and postback["json"]["amount"] == "9.99"
        assert json.loads(postback["json"]["data"]) == {"sku": 1}
        status, doc = await d.status(got["id"])
        assert status == 200 and doc["status"] == "paid" and doc["paid_at"] is not None
        paid = await payment(d, got["id"])
        assert paid.provider_ref == got["transactionId"]

        before = await d.runtime.payments.events(got["id"])
        assert await fake.deliver(hook(d), fake.settle(got["transactionId"])) == 200
        assert await fake.redeliver() == 200
        assert await d.runtime.payments.events(got["id"]) == before
        assert len(receiver.received) == 1


async def test_declines_are_clear_results(
    tmp_path: Path, fake: FakeBraintree, receiver: PostbackReceiver
) -> None:
    async with running_daemon(tmp_path, overrides(fake)) as d:
        declined = await pay(d, DECLINED, postback_url=receiver.url)
        assert declined["status"] == "failed" and declined["reason"] == "Do Not Honor"
        failed = await payment(d, declined["id"])
        assert failed.status == "failed" and failed.reason == "Do Not Honor"
        assert failed.extra["processor_response_code"] == "2000"
        [postback] = await receiver.wait_for(1)
        assert postback["json"]["event"] == "failed"
        assert postback["json"]["reason"] == "Do Not Honor"

        fraud = await pay(d, FRAUD)
        assert fraud["status"] == "terminated" and fraud["reason"] == "gateway rejected: fraud"
        unknown = await pay(d, "tokencc_nope")
        assert unknown["status"] == "failed"
        assert unknown["reason"] == "Unknown or expired payment_method_nonce."
        assert (await payment(d, unknown["id"])).status == "failed"


async def test_bad_params(tmp_path: Path, fake: FakeBraintree) -> None:
    async with running_daemon(tmp_path, overrides(fake)) as d:
        cases = [
            {"product": "gold"},
            {"paymentNonce": OK, "product": "nope"},
            {"paymentNonce": OK, "product": "gold", "amount": "1.00"},
            {"paymentNonce": OK, "product": "monthly"},
            {"paymentNonce": OK, "product": "monthly", "customer": "bad id"},
            {"paymentNonce": OK, "product": "no_plan", "customer": "u"},
            {"paymentNonce": OK, "product": "gold", "postback_url": "ftp://x"},
        ]
        for params in cases:
            reply = await d.call("payment.processBraintreePayment", params)
            assert reply["error"]["code"] == -32602, (params, reply)
        for method, params in [
            ("payment.cancelBraintreeSubscription", {"product": "gold", "customer": "u"}),
            ("payment.getBraintreeSubscriptions", {}),
        ]:
            assert (await d.call(method, params))["error"]["code"] == -32602
        assert await d.runtime.payments.count_by_status() == {}
        assert not [r for r in fake.requests if r["method"] == "POST"]


async def test_gateway_failures_never_500(tmp_path: Path, fake: FakeBraintree) -> None:
    wrong = {**overrides(fake)}
    wrong["plugins"]["braintree"]["private_key"] = "not-the-key"
    async with running_daemon(tmp_path, wrong) as d:
        reply = await d.call(
            "payment.processBraintreePayment", {"paymentNonce": OK, "product": "gold"}
        )
        assert reply["error"]["code"] == -32010
        assert reply["error"]["message"] == "Provider error: Braintree refused the API keys"
        assert "not-the-key" not in json.dumps(reply)
        assert await d.runtime.payments.count_by_status() == {"failed": 1}
        http = await d.http_api("payment.getBraintreeClientToken", {})
        assert http["error"]["status"] is True and http["error"]["code"] == -32010


async def test_lost_answer_is_reconciled_by_order_id(tmp_path: Path, fake: FakeBraintree) -> None:
    settings = {"reconcile_interval": 0.1, "reconcile_after": 0}
    async with running_daemon(tmp_path, overrides(fake, **settings)) as d:
        fake.fail_next.append(500)
        reply = await d.call(
            "payment.processBraintreePayment", {"paymentNonce": OK, "product": "gold"}
        )
        assert reply["error"]["code"] == -32010
        fake.lose_next_answers = 1  # charged, but the answer never arrives
        reply = await d.call(
            "payment.processBraintreePayment", {"paymentNonce": OK, "product": "gold"}
        )
        assert reply["error"]["message"] == "Provider error: Braintree timed out"
        [charged] = fake.transactions.values()

        async def settled() -> dict[str, int]:
            counts = await d.runtime.payments.count_by_status()
            return counts if counts.get("paid") == 1 else {}

        # One sale never reached Braintree (stays open), the lost one is healed.
        assert await wait_until(settled, timeout=5) == {"new": 1, "paid": 1}
        paid = await d.runtime.payments.get_by_provider_ref("braintree", charged["id"])
        assert paid.status == "paid" and charged["order_id"] == paid.id


async def test_subscription_lifecycle(
    tmp_path: Path, fake: FakeBraintree, receiver: PostbackReceiver
) -> None:
    async with running_daemon(tmp_path, overrides(fake)) as d:
        first = await pay(
            d, product="monthly", customer="alice", postback_url=receiver.url, data={"user": 5}
        )
        assert first["status"] == "success"
        sub_id = fake.transactions[first["transactionId"]]["subscription_id"]
        assert fake.subscriptions[sub_id]["price"] == "4.99"
        listed = await d.call("payment.getBraintreeSubscriptions", {"customer": "alice"})
        [entry] = listed["result"]["subscriptions"]
        assert entry["planId"] == "plan-m" and entry["id"] == sub_id
        assert entry["status"] == "Active"

        # Braintree's notice for the first charge creates nothing new.
        first_charge = fake.notification(
            "subscription_charged_successfully", "subscription", fake.subscriptions[sub_id]
        )
        assert await fake.deliver(hook(d), first_charge) == 200
        assert await d.runtime.payments.count_by_status() == {"paid": 1}

        assert await fake.deliver(hook(d), fake.charge_subscription(sub_id)) == 200
        assert await fake.redeliver() == 200
        await receiver.wait_for(2)
        renewal = receiver.received[1]["json"]
        assert renewal["event"] == "paid" and renewal["id"] != first["id"]
        assert renewal["product"] == "monthly" and renewal["customer"] == "alice"
        assert json.loads(renewal["data"]) == {"user": 5}
        assert (await payment(d, renewal["id"])).extra["renewal_of"] == first["id"]

        assert await fake.deliver(hook(d), fake.charge_subscription(sub_id, declined=True)) == 200
        assert await fake.deliver(hook(d), fake.went_past_due(sub_id)) == 200
        assert await d.runtime.payments.count_by_status() == {"paid": 2, "failed": 1}
        newest = fake.subscriptions[sub_id]["transactions"][0]["id"]
        failed = await d.runtime.payments.get_by_provider_ref("braintree", newest)
        assert failed.reason == "Do Not Honor" and failed.extra["renewal_of"] == first["id"]

        canceled = await d.call(
            "payment.cancelBraintreeSubscription", {"product": "monthly", "customer": "alice"}
        )
        assert canceled["result"] == {"status": "success", "canceled": [sub_id]}
        assert fake.subscriptions[sub_id]["status"] == "Canceled"
        again = await d.call(
            "payment.cancelBraintreeSubscription", {"product": "monthly", "customer": "alice"}
        )
        assert again["result"]["status"] == "failed"
        empty = await d.call("payment.getBraintreeSubscriptions", {"customer": "alice"})
        assert empty["result"] == {"subscriptions": []}
        notice = fake.cancel_by_merchant(sub_id)
        assert await fake.deliver(hook(d), notice) == 200
        assert await d.runtime.payments.count_by_status() == {"paid": 2, "failed": 1}


async def test_declined_first_subscription_charge(tmp_path: Path, fake: FakeBraintree) -> None:
    async with running_daemon(tmp_path, overrides(fake)) as d:
        got = await pay(d, DECLINED, product="monthly", customer="bob")
        assert got["status"] == "failed" and got["reason"] == "Do Not Honor"
        assert not fake.subscriptions
        assert (await payment(d, got["id"])).status == "failed"


async def test_sdk_sample_notifications_map_to_events(tmp_path: Path, fake: FakeBraintree) -> None:
    gateway = sdk(fake)

    async def send(d: Any, kind: str, object_id: str) -> int:
        return await fake.deliver(
            hook(d), gateway.webhook_testing.sample_notification(kind, object_id)
        )

    async with running_daemon(tmp_path, overrides(fake)) as d:
        declined, disputed, won = (await pay(d), await pay(d), await pay(d))
        assert await send(d, "transaction_settlement_declined", declined["transactionId"]) == 200
        assert (await payment(d, declined["id"])).status == "charged_back"
        assert await send(d, "dispute_opened", disputed["transactionId"]) == 200
        dispute = await payment(d, disputed["id"])
        assert dispute.status == "disputed" and dispute.reason == "fraud"
        await send(d, "dispute_opened", won["transactionId"])
        assert await send(d, "dispute_won", won["transactionId"]) == 200
        assert (await payment(d, won["id"])).status == "paid"

        sub = await pay(d, product="monthly", customer="carol")
        sub_id = fake.transactions[sub["transactionId"]]["subscription_id"]
        # The SDK's sample renews with a transaction whose id is the subscription's: 49.99,
        # in no currency at all, so it proves no price: recorded, seen, not paid.
        assert await send(d, "subscription_charged_successfully", sub_id) == 200
        renewal = await d.runtime.payments.get_by_provider_ref("braintree", sub_id)
        assert renewal.status == "seen" and renewal.amount == Decimal("49.99")
        assert renewal.reason == "charge names no currency"
        assert renewal.extra["renewal_of"] == sub["id"]
        for kind in ("subscription_canceled", "subscription_went_past_due", "check"):
            assert await send(d, kind, "whatever") == 200
        assert await send(d, "transaction_settled", "unknown-tx") == 200
        counts = await d.runtime.payments.count_by_status()
        assert counts == {"charged_back": 1, "disputed": 1, "paid": 2, "seen": 1}


async def test_tampered_notifications_are_refused(tmp_path: Path, fake: FakeBraintree) -> None:
    async with running_daemon(tmp_path, overrides(fake)) as d:
        got = await pay(d)
        good = fake.settle(got["transactionId"], declined=True)
        other = sdk(fake, private_key="someone-elses-key").webhook_testing.sample_notification(
            "transaction_settlement_declined", got["transactionId"]
        )
        body = base64.decodebytes(good["bt_payload"].encode()).replace(
            b"settlement_declined", b"settled"
        )
        forged = [
            other,  # wrong private key
            {**good, "bt_payload": base64.encodebytes(body).decode()},  # payload changed
            {**good, "bt_signature": "otherpublic|" + good["bt_signature"].split("|")[1]},
            {"bt_payload": good["bt_payload"]},  # no signature
            {**good, "bt_payload": "<xml>not base64</xml>"},
        ]
        for notice in forged:
            assert await fake.deliver(hook(d), notice) == 400, notice
        assert (await payment(d, got["id"])).status == "paid"
        assert await fake.deliver(hook(d), good) == 200
        assert (await payment(d, got["id"])).status == "charged_back"


async def test_currency_and_second_subscription_guards(tmp_path: Path, fake: FakeBraintree) -> None:
    products = {**PRODUCTS, "euro": {"type": "one_time", "prices": {"EUR": "5.00"}}}
    async with running_daemon(tmp_path, {**overrides(fake), "products": products}) as d:
        # The default merchant account settles in USD: a EUR price is not "paid" in USD.
        got = await pay(d, product="euro")
        assert got["status"] == "failed" and got["reason"] == "charged in USD, expected EUR"
        assert (await payment(d, got["id"])).status == "seen"

        await pay(d, product="monthly", customer="dave")
        again = await d.call(
            "payment.processBraintreePayment",
            {"paymentNonce": OK, "product": "monthly", "customer": "dave"},
        )
        assert again["error"]["code"] == -32009
        assert len(fake.subscriptions) == 1

    accounts = overrides(fake, merchant_accounts={"USD": "acct-usd"})
    (tmp_path / "b").mkdir()
    async with running_daemon(tmp_path / "b", {**accounts, "products": products}) as d:
        refused = await d.call(
            "payment.processBraintreePayment", {"paymentNonce": OK, "product": "euro"}
        )
        assert refused["error"]["code"] == -32602
        await pay(d)
        sale = [r for r in fake.requests if r["path"].endswith("/transactions")][-1]
        assert sale["body"]["transaction"]["merchant_account_id"] == "acct-usd"


@pytest.mark.parametrize(
    "broken",
    [
        {"private_key": None},
        {"environment": "moon"},
        {"gateway_url": "https://127.0.0.1:8443"},
        {"merchant_id": ""},
    ],
)
async def test_bad_settings_stop_start_up(
    tmp_path: Path, fake: FakeBraintree, broken: dict[str, Any]
) -> None:
    section = {**overrides(fake)["plugins"]["braintree"], **broken}
    with pytest.raises(PluginError):
        async with running_daemon(tmp_path, {"plugins": {"braintree": section}}):
            pass


async def test_concurrent_redeliveries_make_one_renewal(
    tmp_path: Path, fake: FakeBraintree
) -> None:
    async with running_daemon(tmp_path, overrides(fake)) as d:
        first = await pay(d, product="monthly", customer="erin")
        sub_id = fake.transactions[first["transactionId"]]["subscription_id"]
        notice = fake.charge_subscription(sub_id)
        statuses = await asyncio.gather(*[fake.deliver(hook(d), notice) for _ in range(5)])
        assert statuses == [200] * 5
        assert await d.runtime.payments.count_by_status() == {"paid": 2}


async def test_websocket_endpoints_of_the_seed(tmp_path: Path, fake: FakeBraintree) -> None:
    async with running_daemon(tmp_path, overrides(fake)) as d:
        paid = await d.ws_call(
            "payment:processBraintreePayment",
            {"paymentNonce": OK, "product": "gold", "amount": "9.99"},
        )
        assert paid["error"]["status"] is False and paid["data"]["status"] == "success"
        declined = await d.ws_call(
            "payment:processBraintreePayment", {"paymentNonce": DECLINED, "product": "gold"}
        )
        assert declined["data"]["status"] == "failed"
        assert declined["data"]["reason"] == "Do Not Honor"
        await d.ws_call(
            "payment:processBraintreePayment",
            {"paymentNonce": OK, "product": "monthly", "customer": "fay"},
        )
        subs = await d.ws_call("payment:getBraintreeSubscriptions", {"customer": "fay"})
        assert [s["planId"] for s in subs["data"]["subscriptions"]] == ["plan-m"]
        canceled = await d.ws_call(
            "payment:cancelBraintreeSubscription", {"product": "monthly", "customer": "fay"}
        )
        assert canceled["data"]["status"] == "success"

"""App Store plugin over the real daemon: Apple's verifier on a test chain, real HTTP, SQLite."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import jwt
import pytest

from tests.fakes.apple import AppleChain, AppleSigner
from tests.fakes.verify_receipt_server import VerifyReceiptServer, in_app_item
from tests.harness import PostbackReceiver, running_daemon
from tests.plugins.drivers.appstore import BUNDLE_ID, COINS, MONTHLY, PRODUCTS
from xbtcpay.core.errors import PluginError

SUBSCRIPTION = "Auto-Renewable Subscription"
DAY_MS = 86_400_000


@pytest.fixture
def chain() -> AppleChain:
    return AppleChain.mint()


@pytest.fixture
def signer(chain: AppleChain) -> AppleSigner:
    return AppleSigner(chain, bundle_id=BUNDLE_ID, environment="Sandbox")


@pytest.fixture
async def apple() -> AsyncIterator[VerifyReceiptServer]:
    server = VerifyReceiptServer(shared_secret="s3cret")
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


def settings(
    tmp_path: Path, chain: AppleChain, apple: VerifyReceiptServer, **extra: Any
) -> dict[str, Any]:
    root = tmp_path / "root.pem"
    root.write_bytes(chain.root_pem)
    return {
        "plugins": {
            "appstore": {
                "bundle_id": BUNDLE_ID,
                "environment": "sandbox",
                "root_certificates": [str(root)],
                "products": list(PRODUCTS),
                "verify_receipt_url": apple.production_url,
                "verify_receipt_sandbox_url": apple.sandbox_url,
                "shared_secret": "s3cret",
                **extra,
            }
        },
        "products": PRODUCTS,
    }


async def validate(d: Any, receipt: str, **params: Any) -> dict[str, Any]:
    reply = await d.call("payment.validateAppStore", {"receipt": receipt, **params})
    assert "result" in reply, reply
    return dict(reply["result"])


async def notify(d: Any, signed: str) -> int:
    async with d.session.post(
        d.public_url + "/webhooks/appstore", json={"signedPayload": signed}
    ) as resp:
        return int(resp.status)


def subdir(tmp_path: Path, name: str) -> Path:
    path = tmp_path / name
    path.mkdir()
    return path


async def counts(d: Any) -> dict[str, int]:
    return dict(await d.runtime.payments.count_by_status())


async def test_storekit2_transaction_pays_once(
    tmp_path: Path,
    chain: AppleChain,
    signer: AppleSigner,
    apple: VerifyReceiptServer,
    receiver: PostbackReceiver,
) -> None:
    jws, tx = signer.transaction(COINS, price=9990, currency="USD")
    async with running_daemon(tmp_path, settings(tmp_path, chain, apple)) as d:
        first = await validate(
            d, jws, postback_url=receiver.url, customer="user-7", data={"order": 41}
        )
        assert first["valid"] is True and first["duplicate"] is False
        assert first["transactionId"] == tx["transactionId"] and first["product"] == "coins100"
        assert (first["amount"], first["currency"], first["status"]) == ("9.990", "USD", "paid")
        [got] = await receiver.wait_for(1)
        body = got["json"]
        assert (body["id"], body["event"], body["method"]) == (first["id"], "paid", "appstore")
        assert body["customer"] == "user-7" and body["data"] == '{"order":41}'
        again = await validate(d, jws, postback_url=receiver.url)
        assert again["valid"] is True and again["duplicate"] is True
        assert again["id"] == first["id"]
        assert await counts(d) == {"paid": 1}
        payment = await d.runtime.payments.get(first["id"])
        assert payment.provider_ref == tx["transactionId"]
        assert payment.extra["originalTransactionId"] == tx["originalTransactionId"]
        assert payment.extra["appAccountToken"] == tx["appAccountToken"]
        assert len(receiver.received) == 1


async def test_ws_and_http_transports_answer_the_same(
    tmp_path: Path, chain: AppleChain, signer: AppleSigner, apple: VerifyReceiptServer
) -> None:
    jws, _ = signer.transaction(COINS)
    async with running_daemon(tmp_path, settings(tmp_path, chain, apple)) as d:
        ws = await d.ws_call("payment:validateAppStore", {"receipt": jws})
        http = await d.http_api("payment.validateAppStore", {"receipt": jws})
        assert ws["data"]["valid"] is True and ws["data"]["duplicate"] is False
        assert http["data"]["duplicate"] is True and http["data"]["id"] == ws["data"]["id"]


def _wrong_root(s: AppleSigner) -> str:
    return AppleSigner(AppleChain.mint(), bundle_id=BUNDLE_ID).transaction(COINS)[0]


def _expired_leaf(s: AppleSigner) -> str:
    chain = AppleChain.mint(s.chain, leaf_expired=True)
    return AppleSigner(chain, bundle_id=BUNDLE_ID).transaction(COINS)[0]


NEGATIVE = {
    "wrong root": (_wrong_root, "signature or certificate chain not valid"),
    "wrong bundle": (lambda s: s.transaction(COINS, bundleId="com.evil.app")[0], "another app"),
    "wrong environment": (
        lambda s: s.transaction(COINS, environment="Production")[0],
        "environment Production is not accepted",
    ),
    "wrong signing key": (
        lambda s: s.transaction(COINS, wrong_key=True)[0],
        "signature or certificate chain not valid",
    ),
    "short chain": (
        lambda s: s.transaction(COINS, short_chain=True)[0],
        "certificate chain incomplete",
    ),
    "expired certificate": (_expired_leaf, "signature or certificate chain not valid"),
    "xcode environment": (
        lambda s: s.transaction(COINS, environment="Xcode")[0],
        "environment Xcode is not accepted",
    ),
    "unknown product": (
        lambda s: s.transaction("com.example.shop.unknown")[0],
        "not in the catalog",
    ),
    "revoked": (
        lambda s: s.transaction(COINS, revocationDate=int(time.time() * 1000), revocationReason=0)[
            0
        ],
        "refunded or revoked",
    ),
    "garbage": (lambda s: "eyJhbGciOiJFUzI1NiJ9.e30.c2ln", "payload names no environment"),
    "alg none": (
        lambda s: jwt.encode(
            s.transaction_payload(COINS),
            None,  # type: ignore[arg-type]
            algorithm="none",
        ),
        "signature or certificate chain not valid",
    ),
}


@pytest.mark.parametrize("case", sorted(NEGATIVE))
async def test_untrusted_transactions_are_invalid(
    case: str, tmp_path: Path, chain: AppleChain, signer: AppleSigner, apple: VerifyReceiptServer
) -> None:
    make, reason = NEGATIVE[case]
    async with running_daemon(tmp_path, settings(tmp_path, chain, apple)) as d:
        answer = await validate(d, make(signer))
        assert answer["valid"] is False and reason in answer["reason"], answer
        assert await counts(d) == {}


async def test_test_environments_only_when_allowed(
    tmp_path: Path, chain: AppleChain, signer: AppleSigner, apple: VerifyReceiptServer
) -> None:
    unsigned = AppleSigner(AppleChain.mint(), bundle_id=BUNDLE_ID, environment="Xcode")
    jws, _ = unsigned.transaction(COINS)
    config = settings(tmp_path, chain, apple, allow_test_environments=True)
    async with running_daemon(tmp_path, config) as d:
        answer = await validate(d, jws)
        assert answer["valid"] is True and answer["environment"] == "Xcode"


async def test_production_refuses_sandbox_unless_accepted(
    tmp_path: Path, chain: AppleChain, signer: AppleSigner, apple: VerifyReceiptServer
) -> None:
    jws, _ = signer.transaction(COINS)
    prod = {"environment": "production", "app_apple_id": signer.app_apple_id}
    async with running_daemon(tmp_path, settings(tmp_path, chain, apple, **prod)) as d:
        answer = await validate(d, jws)
        assert answer == {"valid": False, "reason": "environment Sandbox is not accepted"}
    config = settings(tmp_path, chain, apple, accept_sandbox=True, **prod)
    async with running_daemon(subdir(tmp_path, "b"), config) as d:
        assert (await validate(d, jws))["valid"] is True
        prod_jws, _ = AppleSigner(
            chain, bundle_id=BUNDLE_ID, environment="Production", app_apple_id=42
        ).transaction(COINS)
        assert (await validate(d, prod_jws))["valid"] is True  # app id is not in transactions


async def test_production_needs_app_apple_id(
    tmp_path: Path, chain: AppleChain, apple: VerifyReceiptServer
) -> None:
    config = settings(tmp_path, chain, apple, environment="production")
    with pytest.raises(PluginError, match="app_apple_id"):
        async with running_daemon(tmp_path, config):
            pass


async def _paid_subscription(
    d: Any, signer: AppleSigner, receiver: PostbackReceiver
) -> tuple[dict[str, Any], dict[str, Any]]:
    now = int(time.time() * 1000)
    jws, tx = signer.transaction(
        MONTHLY, type=SUBSCRIPTION, expiresDate=now + 30 * DAY_MS, price=4990
    )
    answer = await validate(d, jws, postback_url=receiver.url, customer="sub-1")
    assert answer["valid"] is True and answer["active"] is True
    await receiver.wait_for(1)
    return answer, tx


async def test_refund_notification_refunds_once(
    tmp_path: Path,
    chain: AppleChain,
    signer: AppleSigner,
    apple: VerifyReceiptServer,
    receiver: PostbackReceiver,
) -> None:
    async with running_daemon(tmp_path, settings(tmp_path, chain, apple)) as d:
        answer, tx = await _paid_subscription(d, signer, receiver)
        refunded = {**tx, "revocationDate": int(time.time() * 1000), "revocationReason": 1}
        signed, _ = signer.notification("REFUND", refunded)
        assert await notify(d, signed) == 200
        _, got = await receiver.wait_for(2)
        assert got["json"]["event"] == "refunded" and got["json"]["id"] == answer["id"]
        assert got["json"]["amount_refunded"] == "4.990" and got["json"]["reason"] == "app_issue"
        _, doc = await d.status(answer["id"])
        assert doc["status"] == "refunded"
        events = await d.runtime.db.fetchone("SELECT COUNT(*) FROM payment_events")
        assert await notify(d, signed) == 200
        assert await d.runtime.db.fetchone("SELECT COUNT(*) FROM payment_events") == events
        assert len(receiver.received) == 2 and await counts(d) == {"refunded": 1}
        again = await validate(d, signer.sign(refunded))
        assert again == {"valid": False, "reason": "transaction was refunded or revoked"}


async def test_renewal_creates_a_paid_payment_for_the_same_customer(
    tmp_path: Path,
    chain: AppleChain,
    signer: AppleSigner,
    apple: VerifyReceiptServer,
    receiver: PostbackReceiver,
) -> None:
    async with running_daemon(tmp_path, settings(tmp_path, chain, apple)) as d:
        answer, tx = await _paid_subscription(d, signer, receiver)
        renewal = {
            **tx,
            "transactionId": signer.next_id(),
            "price": 4990,
            "transactionReason": "RENEWAL",
            "expiresDate": tx["expiresDate"] + 30 * DAY_MS,
        }
        signed, _ = signer.notification("DID_RENEW", renewal)
        assert await notify(d, signed) == 200
        _, got = await receiver.wait_for(2)
        body = got["json"]
        assert body["event"] == "paid" and body["id"] != answer["id"]
        assert body["customer"] == "sub-1" and body["product"] == "pro_monthly"
        renewed = await d.runtime.payments.get(body["id"])
        assert renewed.provider_ref == renewal["transactionId"]
        assert renewed.extra["renewal_of"] == answer["id"] and renewed.extra["renewal"] is True
        assert await notify(d, signed) == 200
        assert await counts(d) == {"paid": 2} and len(receiver.received) == 2


async def test_a_renewal_presented_for_another_customer_is_refused(
    tmp_path: Path,
    chain: AppleChain,
    signer: AppleSigner,
    apple: VerifyReceiptServer,
    receiver: PostbackReceiver,
) -> None:
    """A subscription's renewals belong to whoever recorded its original transaction."""
    async with running_daemon(tmp_path, settings(tmp_path, chain, apple)) as d:
        _, tx = await _paid_subscription(d, signer, receiver)
        renewal = signer.sign(
            {
                **tx,
                "transactionId": signer.next_id(),
                "transactionReason": "RENEWAL",
                "expiresDate": tx["expiresDate"] + 30 * DAY_MS,
            }
        )
        reply = await d.call("payment.validateAppStore", {"receipt": renewal, "customer": "sub-2"})
        assert reply["error"]["code"] == -32009, reply
        assert "another customer" in reply["error"]["message"]
        assert await counts(d) == {"paid": 1}
        again = await validate(d, renewal, customer="sub-1")
        assert again["valid"] is True and again["duplicate"] is False
        assert await counts(d) == {"paid": 2}


async def test_purchase_seen_first_in_a_notification(
    tmp_path: Path,
    chain: AppleChain,
    signer: AppleSigner,
    apple: VerifyReceiptServer,
    receiver: PostbackReceiver,
) -> None:
    config = settings(tmp_path, chain, apple, postback_url=receiver.url)
    async with running_daemon(tmp_path, config) as d:
        _, tx = signer.transaction(COINS, price=9990)
        signed, _ = signer.notification("ONE_TIME_CHARGE", tx)
        assert await notify(d, signed) == 200
        [got] = await receiver.wait_for(1)
        assert got["json"]["event"] == "paid" and got["json"]["product"] == "coins100"
        answer = await validate(d, signer.sign(tx))  # the app validates it afterwards
        assert answer["duplicate"] is True and answer["id"] == got["json"]["id"]
        unknown, _ = signer.notification(
            "ONE_TIME_CHARGE", signer.transaction_payload("com.example.other")
        )
        test, _ = signer.notification("TEST")
        assert await notify(d, unknown) == 200 and await notify(d, test) == 200
        assert await counts(d) == {"paid": 1} and len(receiver.received) == 1


async def test_failed_renewal_and_expiry_are_recorded(
    tmp_path: Path,
    chain: AppleChain,
    signer: AppleSigner,
    apple: VerifyReceiptServer,
    receiver: PostbackReceiver,
) -> None:
    async with running_daemon(tmp_path, settings(tmp_path, chain, apple)) as d:
        _, tx = await _paid_subscription(d, signer, receiver)
        failed, _ = signer.notification("DID_FAIL_TO_RENEW", tx, subtype="GRACE_PERIOD")
        expired, _ = signer.notification("EXPIRED", tx, subtype="BILLING_RETRY")
        for signed in (failed, expired, failed):
            assert await notify(d, signed) == 200
        _, got = await receiver.wait_for(2)  # "expired" is not a default postback event
        assert got["json"]["event"] == "failed" and got["json"]["reason"] == "GRACE_PERIOD"
        assert await counts(d) == {"paid": 1, "failed": 1, "expired": 1}


async def test_forged_notifications_are_refused(
    tmp_path: Path,
    chain: AppleChain,
    signer: AppleSigner,
    apple: VerifyReceiptServer,
    receiver: PostbackReceiver,
) -> None:
    async with running_daemon(tmp_path, settings(tmp_path, chain, apple)) as d:
        _, tx = await _paid_subscription(d, signer, receiver)
        other = AppleSigner(AppleChain.mint(), bundle_id=BUNDLE_ID)
        forged = [
            signer.notification("REFUND", tx, wrong_key=True)[0],
            signer.notification("REFUND", tx, short_chain=True)[0],
            other.notification("REFUND", tx)[0],
            signer.notification("REFUND", tx, data_overrides={"bundleId": "x.y"})[0],
            signer.notification("REFUND", tx, data_overrides={"environment": "Xcode"})[0],
        ]
        for signed in forged:
            assert await notify(d, signed) == 400
        async with d.session.post(d.public_url + "/webhooks/appstore", data="{") as resp:
            assert resp.status == 400
        assert await counts(d) == {"paid": 1}


async def test_legacy_receipt_retries_sandbox_on_21007(
    tmp_path: Path, chain: AppleChain, signer: AppleSigner, apple: VerifyReceiptServer
) -> None:
    now = int(time.time() * 1000)
    receipt = apple.add(
        "Sandbox",
        BUNDLE_ID,
        in_app_item(COINS, "1000000001", purchase_ms=now),
        in_app_item(COINS, "1000000002", purchase_ms=now + 1000),
    )
    prod = {"environment": "production", "app_apple_id": 1234567890}
    async with running_daemon(tmp_path, settings(tmp_path, chain, apple, **prod)) as d:
        answer = await validate(d, receipt)
        assert answer == {"valid": False, "reason": "sandbox receipt refused in production"}
    async with running_daemon(
        subdir(tmp_path, "b"), settings(tmp_path, chain, apple, accept_sandbox=True, **prod)
    ) as d:
        answer = await validate(d, receipt)
        assert answer["valid"] is True and answer["transactionId"] == "1000000002"
        assert answer["environment"] == "Sandbox" and answer["amount"] == "9.99"
        assert [p["transactionId"] for p in answer["payments"]] == ["1000000002", "1000000001"]
        again = await validate(d, receipt)
        assert all(p["duplicate"] for p in again["payments"])
        assert await counts(d) == {"paid": 2}
    assert [env for env, _ in apple.calls] == ["Production"] + ["Production", "Sandbox"] * 2
    assert all(body["password"] == "s3cret" for _, body in apple.calls)


async def test_legacy_receipt_refusals(
    tmp_path: Path, chain: AppleChain, apple: VerifyReceiptServer
) -> None:
    now = int(time.time() * 1000)
    other_app = apple.add("Sandbox", "com.other.app", in_app_item(COINS, "7", purchase_ms=now))
    async with running_daemon(tmp_path, settings(tmp_path, chain, apple)) as d:
        assert (await validate(d, other_app))[
            "reason"
        ] == "receipt belongs to another app (bundle id)"
        assert (await validate(d, "bm90IGEgcmVjZWlwdA=="))["reason"] == "receipt data malformed"
        assert (await validate(d, "%%%"))["valid"] is False
        assert await counts(d) == {}
    async with running_daemon(
        subdir(tmp_path, "b"), settings(tmp_path, chain, apple, shared_secret="wrong")
    ) as d:
        good = apple.add("Sandbox", BUNDLE_ID, in_app_item(COINS, "8", purchase_ms=now))
        assert (await validate(d, good))["reason"] == "shared secret does not match"


async def test_apple_unreachable_is_a_provider_error(
    tmp_path: Path, chain: AppleChain, apple: VerifyReceiptServer
) -> None:
    config = settings(tmp_path, chain, apple, verify_receipt_sandbox_url="http://127.0.0.1:1/")
    async with running_daemon(tmp_path, config) as d:
        reply = await d.call("payment.validateAppStore", {"receipt": "bm90IGEgcmVjZWlwdA=="})
        assert reply["error"]["code"] == -32010, reply
        bad = await d.call("payment.validateAppStore", {"receipt": 5})
        assert bad["error"]["code"] == -32602


async def test_products_with_an_appstore_id_are_sold_without_the_list(
    tmp_path: Path, chain: AppleChain, signer: AppleSigner, apple: VerifyReceiptServer
) -> None:
    overrides = settings(tmp_path, chain, apple)
    del overrides["plugins"]["appstore"]["products"]
    overrides["products"] = {**PRODUCTS, "cake": {"type": "one_time", "prices": {"USD": "1.00"}}}
    async with running_daemon(tmp_path, overrides) as d:
        answer = await validate(d, signer.transaction(COINS)[0])
        assert answer["valid"] is True and answer["product"] == "coins100"
        monthly = await validate(
            d,
            signer.transaction(
                MONTHLY, type=SUBSCRIPTION, expiresDate=int(time.time() * 1000) + DAY_MS
            )[0],
        )
        assert monthly["valid"] is True and monthly["product"] == "pro_monthly"


async def test_the_products_list_still_restricts_the_sale(
    tmp_path: Path, chain: AppleChain, signer: AppleSigner, apple: VerifyReceiptServer
) -> None:
    overrides = settings(tmp_path, chain, apple)
    overrides["plugins"]["appstore"]["products"] = ["coins100"]
    async with running_daemon(tmp_path, overrides) as d:
        assert (await validate(d, signer.transaction(COINS)[0]))["valid"] is True
        refused = await validate(
            d,
            signer.transaction(
                MONTHLY, type=SUBSCRIPTION, expiresDate=int(time.time() * 1000) + DAY_MS
            )[0],
        )
        assert refused == {"valid": False, "reason": f"product {MONTHLY} is not in the catalog"}

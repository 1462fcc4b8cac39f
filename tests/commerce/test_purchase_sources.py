"""payment.purchase through Braintree: a stored card (merchant-initiated), Apple Pay and
Google Pay tokens and a fresh nonce, with the real SDK against the fake gateway."""

from __future__ import annotations

import asyncio
import warnings
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.commerce.setup import check_ledger, commerce, ledger_rows, session
from tests.commerce.test_top_ups import braintree_plugin
from tests.fakes.braintree_server import FakeBraintree
from tests.harness import running_daemon
from xbtcpay.core.models import PaymentEvent
from xbtcpay.core.state import Event

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import braintree as bt

CARD_NUMBER = "4111111111111111"


@pytest.fixture
async def fake() -> AsyncIterator[FakeBraintree]:
    f = FakeBraintree(merchant_accounts={"aud-account": "AUD"})
    await f.start()
    yield f
    await f.stop()


async def vault(fake: FakeBraintree, customer: str, nonce: str = "fake-valid-visa-nonce") -> None:
    """The customer stored a card earlier (the shop's app did it with the SDK)."""
    await asyncio.to_thread(_vault, fake, customer, nonce)


def _vault(fake: FakeBraintree, customer: str, nonce: str) -> None:
    env = bt.Environment("fake", "127.0.0.1", str(fake.port), "http://127.0.0.1", False, None)
    gateway = bt.BraintreeGateway(
        bt.Configuration(env, fake.merchant_id, fake.public_key, fake.private_key)
    )
    if customer not in fake.customers:
        assert gateway.customer.create({"id": customer}).is_success
    assert gateway.payment_method.create(
        {"customer_id": customer, "payment_method_nonce": nonce, "options": {"make_default": True}}
    ).is_success


async def buy(d: Any, token: str, **source: Any) -> dict[str, Any]:
    reply = await d.call(
        "payment.purchase",
        {
            "customer": "alice",
            "product": "gem_pack",
            "currency": "AUD",
            "purchase_token": token,
            **source,
        },
    )
    assert "result" in reply, reply
    return dict(reply["result"])


def sales(fake: FakeBraintree) -> list[dict[str, Any]]:
    return [
        r["body"]["transaction"]
        for r in fake.requests
        if r["method"] == "POST" and r["path"].endswith("/transactions")
    ]


async def test_a_stored_card_is_charged_off_session_once_per_purchase_token(
    tmp_path: Path, fake: FakeBraintree
) -> None:
    await vault(fake, "alice")
    async with running_daemon(tmp_path, commerce(plugins=braintree_plugin(fake))) as d:
        answer = await buy(d, "tok-stored-0001", use_stored_card=True)
        assert answer["PaymentResponse"] == "Success", answer
        receipt = answer["Receipt"]
        assert receipt["Amount"] == {"Total": "11.00", "Tax": "1.00", "AmountLessTax": "10.00"}
        assert receipt["CreditCardNumber"] == "Visa **** 1111"
        assert await buy(d, "tok-stored-0001", use_stored_card=True) == answer
        [sale] = sales(fake)
        assert sale["transaction_source"] == "unscheduled" and sale["amount"] == "11.00"
        assert sale["merchant_account_id"] == "aud-account" and "payment_method_token" in sale
        paid = (await d.call("list_payments", {"customer": "alice"}))["result"]["payments"]
        assert [(p["status"], p["product"]) for p in paid] == [("paid", "gem_pack")]
        check_ledger(tmp_path)


async def test_no_stored_card_and_a_declining_stored_card(
    tmp_path: Path, fake: FakeBraintree
) -> None:
    async with running_daemon(tmp_path, commerce(plugins=braintree_plugin(fake))) as d:
        answer = await buy(d, "tok-nocard-001", use_stored_card=True)
        assert (answer["PaymentResponse"], answer["ErrorCode"]) == ("NoStoredCard", "E103")
        await vault(fake, "alice", "fake-processor-declined-visa-nonce")
        answer = await buy(d, "tok-declined-1", use_stored_card=True)
        assert answer["PaymentResponse"] == "CardDeclined" and answer["Receipt"] is None
        assert "Do Not Honor" in answer["ErrorMessage"]
        assert await buy(d, "tok-declined-1", use_stored_card=True) == answer
        assert len(sales(fake)) == 1
        assert ledger_rows(tmp_path, "SELECT COUNT(*) FROM issued_receipts") == [(0,)]


@pytest.mark.parametrize(
    ("wallet", "nonce", "card"),
    [
        ("ApplePay", "fake-apple-pay-visa-nonce", "Apple Pay - Visa **** 1881"),
        ("GooglePay", "fake-android-pay-visa-nonce", "Visa **** 1881"),
    ],
)
async def test_wallet_tokens_are_handed_to_the_provider(
    tmp_path: Path, fake: FakeBraintree, wallet: str, nonce: str, card: str
) -> None:
    async with running_daemon(tmp_path, commerce(plugins=braintree_plugin(fake))) as d:
        async with d.session.post(
            f"{d.public_url}/User/Purchase",
            json={
                "PurchaseToken": f"tok-{wallet}-01",
                "Product": {"Token": "gem_pack"},
                "Currency": "AUD",
                "Token": {"Type": wallet, "Token": nonce},
            },
            headers={"X-Session-Id": session("alice")},
        ) as resp:
            answer = await resp.json()
        assert answer["PaymentResponse"] == "Success", answer
        assert answer["Receipt"]["CreditCardNumber"] == card
        assert sales(fake)[0]["payment_method_nonce"] == nonce
        bad = await buy(
            d, f"tok-{wallet}-02", wallet_token={"type": wallet, "token": "not-a-nonce"}
        )
        assert bad["PaymentResponse"] == "TokenAcquisitionFailed", bad


async def test_a_fresh_nonce_and_a_provider_outage(tmp_path: Path, fake: FakeBraintree) -> None:
    async with running_daemon(tmp_path, commerce(plugins=braintree_plugin(fake))) as d:
        answer = await buy(d, "tok-nonce-0001", payment_nonce="fake-valid-nonce")
        assert answer["PaymentResponse"] == "Success"
        assert answer["Receipt"]["ReceiptNumber"] == "XB-000001"
        fraud = await buy(d, "tok-nonce-0002", payment_nonce="fake-gateway-rejected-fraud-nonce")
        assert fraud["PaymentResponse"] == "CardDeclined"
        fake.fail_next.append(503)
        down = await buy(d, "tok-nonce-0003", payment_nonce="fake-valid-nonce")
        assert down["PaymentResponse"] in ("Pending", "ProviderError"), down
        check_ledger(tmp_path)


async def test_a_raw_card_number_is_refused_and_never_stored_or_logged(
    tmp_path: Path, fake: FakeBraintree, capsys: pytest.CaptureFixture[str]
) -> None:
    async with running_daemon(tmp_path, commerce(plugins=braintree_plugin(fake))) as d:
        async with d.session.post(
            f"{d.rpc_url}/User/Purchase",
            json={
                "customer": "alice",
                "PurchaseToken": "tok-raw-card-1",
                "Product": {"Token": "gem_pack"},
                "Card": {"Number": CARD_NUMBER, "Month": 12, "Year": 30, "CCV": "123"},
            },
        ) as resp:
            answer = await resp.json()
        assert (
            answer["PaymentResponse"] == "RawCardRefused" and "tokenize" in answer["ErrorMessage"]
        )
        reply = await d.call(
            "payment.purchase",
            {
                "customer": "alice",
                "product": "gem_pack",
                "purchase_token": "tok-raw-card-2",
                "card": {"number": CARD_NUMBER},
            },
        )
        assert reply["result"]["PaymentResponse"] == "RawCardRefused"
        assert CARD_NUMBER not in str(answer) + str(reply)
        assert sales(fake) == []
    out = capsys.readouterr()
    assert CARD_NUMBER not in out.out + out.err
    for path in tmp_path.glob("xbtcpay.db*"):
        assert CARD_NUMBER.encode() not in path.read_bytes()


async def test_a_card_number_in_any_spelling_or_field_is_refused_before_anything_is_stored(
    tmp_path: Path, fake: FakeBraintree, capsys: pytest.CaptureFixture[str]
) -> None:
    spaced = "4111 1111-1111 1111"
    await vault(fake, "alice")  # a stored card the purchase would otherwise go ahead on
    async with running_daemon(tmp_path, commerce(plugins=braintree_plugin(fake))) as d:
        endpoint_bodies: list[dict[str, Any]] = [
            {"card": {"number": CARD_NUMBER}},
            {"Card": {"CardNumber": CARD_NUMBER}},
            {"Card": {"pan": spaced}},
            {"card": {"card_number": int(CARD_NUMBER)}},
            {"CardNumber": CARD_NUMBER},
            {"PurchaseToken": CARD_NUMBER},
            {"PurchaseToken": f"tok-{CARD_NUMBER}"},
        ]
        for i, extra in enumerate(endpoint_bodies):
            body = {
                "customer": "alice",
                "PurchaseToken": f"tok-any-card-{i}",
                "Product": {"Token": "gem_pack"},
                "UseStoredCard": True,
                "Currency": "AUD",
                **extra,
            }
            async with d.session.post(f"{d.rpc_url}/User/Purchase", json=body) as resp:
                answer = await resp.json()
                assert resp.status == 200, (extra, answer)
            assert answer["PaymentResponse"] == "RawCardRefused", (extra, answer)
            assert answer["ErrorCode"] == "E205" and CARD_NUMBER not in str(answer)
        rpc_params: list[dict[str, Any]] = [
            {"card": {"card_number": CARD_NUMBER}},
            {"Card": {"Number": CARD_NUMBER}},
            {"Card": {"pan": spaced}},
            {"purchase_token": CARD_NUMBER},
            {"purchase_token": spaced},
            {"payment_nonce_note": [{"x": CARD_NUMBER}]},
        ]
        for i, extra in enumerate(rpc_params):
            answer = await buy(d, f"tok-rpc-card-{i}", use_stored_card=True, **extra)
            assert answer["PaymentResponse"] == "RawCardRefused", (extra, answer)
            assert CARD_NUMBER not in str(answer)
        assert sales(fake) == []
        assert ledger_rows(tmp_path, "SELECT COUNT(*) FROM purchases") == [(0,)]
        paid = (await d.call("list_payments", {"customer": "alice"}))["result"]["payments"]
        assert paid == []
        # a Luhn-invalid number and short digit runs are not card numbers
        answer = await buy(d, "tok-4111111111111112", use_stored_card=True)
        assert answer["PaymentResponse"] == "Success", answer
    out = capsys.readouterr()
    assert CARD_NUMBER not in out.out + out.err and spaced not in out.out + out.err
    for path in tmp_path.glob("xbtcpay.db*"):
        assert CARD_NUMBER.encode() not in path.read_bytes()


async def test_an_app_with_a_session_tops_up_through_the_braintree_methods(
    tmp_path: Path, fake: FakeBraintree
) -> None:
    async with running_daemon(tmp_path, commerce(plugins=braintree_plugin(fake))) as d:
        headers = {"X-Session-Id": session("alice")}
        async with d.session.post(
            f"{d.public_url}/api/v0/rpc/payment.getBraintreeClientToken", json={}, headers=headers
        ) as resp:
            assert resp.status == 200 and (await resp.json())["data"]["token"]
        async with d.session.post(
            f"{d.public_url}/api/v0/rpc/payment.processBraintreePayment",
            json={
                "paymentNonce": "fake-valid-nonce",
                "currency": "AUD",
                "product": "buying_increase_balance",
                "amount": "15.00",
            },
            headers=headers,
        ) as resp:
            assert (await resp.json())["data"]["status"] == "success"
        reply = await d.call("balance.get", {"customer": "alice"})
        assert reply["result"]["balances"][0]["amount"] == "15.00"
        async with d.session.post(
            f"{d.public_url}/api/v0/rpc/payment.processBraintreePayment",
            json={
                "paymentNonce": "fake-valid-nonce",
                "currency": "AUD",
                "product": "buying_increase_balance",
                "amount": "15.00",
                "customer": "bob",
            },
            headers=headers,
        ) as resp:
            assert resp.status == 403
        assert len(sales(fake)) == 1


async def test_a_charge_settled_after_the_caller_gave_up_answers_the_replay(
    tmp_path: Path, fake: FakeBraintree
) -> None:
    async with running_daemon(tmp_path, commerce(plugins=braintree_plugin(fake))) as d:
        fake.lose_next_answers = 1  # Braintree charges, then its answer is lost
        first = await buy(d, "tok-lost-answer", payment_nonce="fake-valid-nonce")
        assert first["PaymentResponse"] == "Pending", first
        assert await buy(d, "tok-lost-answer", payment_nonce="fake-valid-nonce") == first
        [payment] = (await d.call("list_payments", {"customer": "alice"}))["result"]["payments"]
        [tx] = fake.transactions.values()
        await d.processor.apply(
            payment["id"],
            PaymentEvent(  # what reconciliation reports
                Event.PAID,
                dedupe_key=f"braintree:tx:{tx['id']}:paid",
                provider_ref=tx["id"],
                amount_received=Decimal("11.00"),
                source="braintree",
            ),
        )
        later = await buy(d, "tok-lost-answer", payment_nonce="fake-valid-nonce")
        assert later["PaymentResponse"] == "Success"
        assert later["Receipt"]["ReceiptNumber"] == "XB-000001"
        assert len(sales(fake)) == 1
        check_ledger(tmp_path)

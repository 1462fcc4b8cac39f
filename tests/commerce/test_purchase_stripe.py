"""payment.purchase through Stripe: a saved card charged off-session, Apple Pay / Google Pay
card tokens and a Stripe.js PaymentMethod, with the real SDK against the fake API."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.commerce.setup import check_ledger, commerce
from tests.commerce.test_top_ups import stripe_plugin
from tests.fakes.stripe_vault import FakeStripeVault
from tests.harness import running_daemon


@pytest.fixture
async def fake() -> AsyncIterator[FakeStripeVault]:
    f = FakeStripeVault()
    await f.start()
    yield f
    await f.stop()


async def buy(d: Any, token: str, **source: Any) -> dict[str, Any]:
    reply = await d.call(
        "payment.purchase",
        {
            "customer": "alice",
            "product": "gem_pack",
            "currency": "AUD",
            "purchase_token": token,
            "provider": "stripe",
            **source,
        },
    )
    assert "result" in reply, reply
    return dict(reply["result"])


def intents(fake: FakeStripeVault) -> list[dict[str, Any]]:
    return [r for r in fake.requests if r["path"] == "/v1/payment_intents"]


async def test_a_saved_card_is_charged_off_session_once(
    tmp_path: Path, fake: FakeStripeVault
) -> None:
    customer = fake.save_card("alice")
    async with running_daemon(tmp_path, commerce(plugins=stripe_plugin(fake))) as d:
        answer = await buy(d, "tok-stripe-0001", use_stored_card=True)
        assert answer["PaymentResponse"] == "Success", answer
        assert answer["Receipt"]["CreditCardNumber"] == "Visa **** 4242"
        assert answer["Receipt"]["Amount"]["Tax"] == "1.00"
        assert await buy(d, "tok-stripe-0001", use_stored_card=True) == answer
        [request] = intents(fake)
        params = request["params"]
        assert params["off_session"] == "true" and params["confirm"] == "true"
        assert params["customer"] == customer and params["amount"] == "1100"
        assert params["currency"] == "aud"
        assert request["headers"]["Idempotency-Key"].startswith("xbtcpay-purchase-")
        async with d.session.post(
            f"{d.rpc_url}/User/Purchase",
            json={
                "customer": "alice",
                "PurchaseToken": "tok-stripe-seed",
                "Provider": "stripe",
                "Product": {"Token": "gem_pack"},
                "Currency": "AUD",
                "UseStoredCard": True,
            },
        ) as resp:
            seed = await resp.json()
        assert seed["PaymentResponse"] == "Success" and seed["Receipt"]["ReceiptNumber"] == (
            "XB-000002"
        )
        check_ledger(tmp_path)


@pytest.mark.parametrize(
    ("card", "response"),
    [
        ("pm_card_chargeDeclined", "CardDeclined"),
        ("pm_card_chargeDeclinedInsufficientFunds", "CardDeclined"),
        ("pm_card_authenticationRequired", "CardDeclined"),
    ],
)
async def test_declines_map_onto_payment_responses(
    tmp_path: Path, fake: FakeStripeVault, card: str, response: str
) -> None:
    fake.save_card("alice", card)
    async with running_daemon(tmp_path, commerce(plugins=stripe_plugin(fake))) as d:
        answer = await buy(d, "tok-stripe-decl", use_stored_card=True)
        assert answer["PaymentResponse"] == response and answer["Receipt"] is None
        assert answer["ErrorCode"] == "E102" and answer["ErrorMessage"]


async def test_no_saved_card(tmp_path: Path, fake: FakeStripeVault) -> None:
    async with running_daemon(tmp_path, commerce(plugins=stripe_plugin(fake))) as d:
        answer = await buy(d, "tok-stripe-none", use_stored_card=True)
        assert answer["PaymentResponse"] == "NoStoredCard"
        assert intents(fake) == []


@pytest.mark.parametrize(
    ("wallet", "kind", "card"),
    [
        ("ApplePay", "apple_pay", "Apple Pay - Visa **** 4242"),
        ("GooglePay", "google_pay", "Google Pay - Visa **** 4242"),
    ],
)
async def test_wallet_tokens_and_an_unknown_token(
    tmp_path: Path, fake: FakeStripeVault, wallet: str, kind: str, card: str
) -> None:
    async with running_daemon(tmp_path, commerce(plugins=stripe_plugin(fake))) as d:
        token = fake.wallet_token(kind)
        answer = await buy(d, f"tok-{kind}-001", wallet_token={"type": wallet, "token": token})
        assert answer["PaymentResponse"] == "Success", answer
        assert answer["Receipt"]["CreditCardNumber"] == card
        assert intents(fake)[0]["params"]["payment_method_data"]["card"]["token"] == token
        bad = await buy(d, f"tok-{kind}-002", wallet_token={"type": wallet, "token": "tok_nope"})
        assert bad["PaymentResponse"] == "TokenAcquisitionFailed", bad


async def test_a_payment_method_from_stripe_js_and_an_outage(
    tmp_path: Path, fake: FakeStripeVault
) -> None:
    async with running_daemon(tmp_path, commerce(plugins=stripe_plugin(fake))) as d:
        pm = fake._payment_method("pm_card_mastercard", None)["id"]
        answer = await buy(d, "tok-stripe-pm-1", payment_nonce=pm)
        assert answer["PaymentResponse"] == "Success"
        assert answer["Receipt"]["CreditCardNumber"] == "Mastercard **** 4444"
        fake.fail_next.append(500)
        down = await buy(d, "tok-stripe-pm-2", payment_nonce=pm)
        assert down["PaymentResponse"] == "Pending", down
        check_ledger(tmp_path)

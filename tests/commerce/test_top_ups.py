"""A paid top-up credits the balance once, in the transition's transaction; its refund or
chargeback writes a reversal and a credit note (real SDKs against the fakes, real anvil)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.chain.watching import units, watching
from tests.commerce.setup import check_ledger, commerce, ledger_rows
from tests.fakes.braintree_server import FakeBraintree
from tests.fakes.stripe_server import FakeStripe
from tests.fixtures.chain import DevChain
from tests.harness import running_daemon

TOP_UP = "buying_increase_balance"


@pytest.fixture
async def stripe() -> AsyncIterator[FakeStripe]:
    fake = FakeStripe()
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture
async def braintree() -> AsyncIterator[FakeBraintree]:
    fake = FakeBraintree(merchant_accounts={"aud-account": "AUD"})
    await fake.start()
    yield fake
    await fake.stop()


def stripe_plugin(fake: FakeStripe) -> dict[str, Any]:
    return {
        "stripe": {
            "api_key": fake.api_key,
            "webhook_secret": fake.webhook_secret,
            "api_base": fake.url,
            "publishable_key": "pk_test_x",
            "max_network_retries": 0,
            "reconcile_interval": 3600,
        }
    }


def braintree_plugin(fake: FakeBraintree) -> dict[str, Any]:
    return {
        "braintree": {
            "environment": "custom",
            "gateway_url": fake.gateway_url,
            "merchant_id": fake.merchant_id,
            "public_key": fake.public_key,
            "private_key": fake.private_key,
            "reconcile_interval": 3600,
            "merchant_accounts": {"AUD": "aud-account"},
        }
    }


async def balances(d: Any, customer: str) -> dict[str, Any]:
    reply = await d.call("balance.get", {"customer": customer})
    return {b["currency"]: (b["amount"], b["negative"]) for b in reply["result"]["balances"]}


async def test_a_stripe_top_up_credits_once_and_its_refunds_reverse_it(
    tmp_path: Path, stripe: FakeStripe
) -> None:
    async with running_daemon(tmp_path, commerce(plugins=stripe_plugin(stripe))) as d:
        reply = await d.call(
            "payment.createStripeCheckoutSession",
            {
                "product": TOP_UP,
                "amount": "25.00",
                "currency": "AUD",
                "customer": "alice",
                "successUrl": "https://shop.example/ok",
                "cancelUrl": "https://shop.example/no",
            },
        )
        session_id = reply["result"]["sessionId"]
        hook = f"{d.public_url}/webhooks/stripe"
        assert await stripe.deliver(hook, stripe.complete(session_id)) == 200
        assert await stripe.redeliver(hook) == 200  # a replayed webhook
        assert await balances(d, "alice") == {"AUD": ("25.00", False)}
        assert await stripe.deliver(hook, stripe.refund(session_id, 1000)) == 200
        assert await balances(d, "alice") == {"AUD": ("15.00", False)}
        assert await stripe.deliver(hook, stripe.refund(session_id)) == 200
        assert await stripe.redeliver(hook) == 200
        assert await balances(d, "alice") == {"AUD": ("0.00", False)}
        kinds = ledger_rows(tmp_path, "SELECT kind, amount FROM ledger_entries ORDER BY seq")
        assert kinds == [("top_up", 2500), ("reversal", -1000), ("reversal", -1500)]
        notes = ledger_rows(
            tmp_path, "SELECT kind, total, tax, original_number FROM issued_receipts ORDER BY seq"
        )
        assert notes == [
            ("receipt", 2500, 0, None),
            ("credit_note", -1000, 0, "XB-000001"),
            ("credit_note", -1500, 0, "XB-000001"),
        ]
        check_ledger(tmp_path)


async def test_a_braintree_top_up_spent_then_charged_back_goes_negative_and_says_so(
    tmp_path: Path, braintree: FakeBraintree
) -> None:
    async with running_daemon(tmp_path, commerce(plugins=braintree_plugin(braintree))) as d:
        reply = await d.call(
            "payment.processBraintreePayment",
            {
                "paymentNonce": "fake-valid-nonce",
                "product": TOP_UP,
                "amount": "20.00",
                "currency": "AUD",
                "customer": "bob",
            },
        )
        result = reply["result"]
        assert result["status"] == "success", result
        hook = f"{d.public_url}/webhooks/braintree"
        assert await braintree.deliver(hook, braintree.settle(result["transactionId"])) == 200
        assert await braintree.redeliver() == 200
        assert await balances(d, "bob") == {"AUD": ("20.00", False)}
        bought = await d.call(
            "payment.purchase",
            {
                "customer": "bob",
                "product": "gem_pack",
                "use_balance": True,
                "currency": "AUD",
                "purchase_token": "tok-bob-00001",
            },
        )
        assert bought["result"]["PaymentResponse"] == "Success"
        lost = braintree.open_dispute(result["transactionId"], status="lost")
        assert await braintree.deliver(hook, lost) == 200
        assert await braintree.redeliver() == 200
        assert await balances(d, "bob") == {"AUD": ("-11.00", True)}
        [refresh] = [
            job
            for name, job, _ in d.runtime.registrations.jobs
            if name == "commerce.negative_balances"
        ]
        await refresh()
        async with d.session.get(f"{d.rpc_url}/metrics") as resp:
            metrics = await resp.text()
        assert 'xbtcpay_negative_balances{currency="AUD"} 1.0' in metrics
        check_ledger(tmp_path)


async def test_a_crypto_top_up_credits_the_asset_once_paid_on_chain(
    tmp_path: Path, chain: DevChain
) -> None:
    async with watching(tmp_path, chain, commerce()) as w:
        reply = await w.d.call("balance.topUpCrypto", {"customer": "carol", "amount": "1.5"})
        top_up = reply["result"]
        await chain.pay_tokens(top_up["address"], units("1.5"))
        await w.until(top_up["id"], "seen")
        assert await balances(w.d, "carol") == {}  # not before it is paid
        await chain.mine(3)
        await w.until(top_up["id"], "paid")
        assert await balances(w.d, "carol") == {"0xbtc": ("1.50000000", False)}
        await chain.mine(3)
        await w.synced()
        assert ledger_rows(tmp_path, "SELECT kind, amount, payment_id FROM ledger_entries") == [
            ("top_up", 150_000_000, top_up["id"])
        ]
        check_ledger(tmp_path)


async def test_a_won_dispute_does_not_credit_the_top_up_again(
    tmp_path: Path, braintree: FakeBraintree
) -> None:
    async with running_daemon(tmp_path, commerce(plugins=braintree_plugin(braintree))) as d:
        reply = await d.call(
            "payment.processBraintreePayment",
            {
                "paymentNonce": "fake-valid-nonce",
                "product": TOP_UP,
                "amount": "20.00",
                "currency": "AUD",
                "customer": "dora",
            },
        )
        tx = reply["result"]["transactionId"]
        hook = f"{d.public_url}/webhooks/braintree"
        for status in ("open", "won"):
            assert await braintree.deliver(hook, braintree.open_dispute(tx, status=status)) == 200
        payment = await d.processor.get(reply["result"]["id"])
        assert payment.status == "paid"  # paid again after the dispute
        assert await balances(d, "dora") == {"AUD": ("20.00", False)}
        assert ledger_rows(tmp_path, "SELECT COUNT(*) FROM issued_receipts") == [(1,)]
        check_ledger(tmp_path)

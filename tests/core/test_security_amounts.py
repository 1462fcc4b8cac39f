"""A provider's charge pays a payment only in the payment's currency and for at least its price.

One test per plugin, each through the plugin's real entry point (signed webhook, SDK answer,
signed notification or JWT notice), plus the rule itself (xbtcpay.core.price_rule).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.apple import AppleChain, AppleSigner
from tests.fakes.braintree_server import FakeBraintree
from tests.fakes.stripe_server import FakeStripe
from tests.fakes.verify_receipt_server import VerifyReceiptServer
from tests.harness import running_daemon, wait_until
from tests.plugins.drivers.appstore import COINS
from tests.plugins.drivers.inapp import notice, post_notice, read_request
from tests.plugins.drivers.inapp import settings as inapp_settings
from tests.plugins.test_appstore import apple, chain, signer  # noqa: F401 - fixtures
from tests.plugins.test_appstore import settings as appstore_settings
from tests.plugins.test_braintree import overrides as bt_overrides
from tests.plugins.test_stripe import checkout, fake, hook, overrides  # noqa: F401 - fixture
from xbtcpay.core.models import CRYPTO, NewPayment, Payment
from xbtcpay.core.price_rule import shortfall
from xbtcpay.core.state import State


def _payment(asset: str, amount: str) -> Payment:
    return Payment(
        id="p" * 23,
        method=CRYPTO,
        asset=asset,
        amount=Decimal(amount),
        status=State.NEW,
        created_at=0,
    )


@pytest.mark.parametrize(
    ("currency", "amount", "pays"),
    [
        ("USD", "500.00", True),
        ("usd", "500.01", True),
        ("USD", "499.99", False),
        ("JPY", "1000", False),
        ("EUR", "500.00", False),
        (None, "500.00", False),
        ("USD", None, False),
        ("", "500", False),
    ],
)
def test_the_rule(currency: str | None, amount: str | None, pays: bool) -> None:
    got = shortfall(
        _payment("USD", "500.00"), currency, None if amount is None else Decimal(amount)
    )
    assert (got is None) == pays, got


async def _status(d: Any, pid: str) -> str:
    payment = await d.runtime.payments.get(pid)
    return str(payment.status.value)


async def _settled(d: Any, pid: str) -> str | None:
    status = await _status(d, pid)
    return None if status == "new" else status


@pytest.fixture
async def braintree() -> AsyncIterator[FakeBraintree]:
    f = FakeBraintree()
    await f.start()
    yield f
    await f.stop()


@pytest.mark.parametrize(
    ("change", "paid"),
    [
        ({"currency": "jpy", "amount_total": 100_000}, False),  # JPY 100000 for USD 9.99
        ({"amount_total": None}, False),
        ({"amount_total": 998}, False),
        ({}, True),
    ],
)
async def test_stripe_session_in_another_currency_or_without_amount_does_not_pay(
    tmp_path: Path,
    fake: FakeStripe,  # noqa: F811
    change: dict[str, Any],
    paid: bool,
) -> None:
    async with running_daemon(tmp_path, overrides(fake)) as d:
        got = await checkout(d)
        event = fake.complete(got["sessionId"])
        event["data"]["object"].update(change)
        if change.get("amount_total", 0) is None:
            del event["data"]["object"]["amount_total"]
        assert await fake.deliver(hook(d), event) == 200
        assert await _status(d, got["id"]) == ("paid" if paid else "seen")


@pytest.mark.parametrize(
    ("change", "paid"),
    [({"currency_iso_code": "JPY"}, False), ({"amount": "1.00"}, False), ({}, True)],
)
async def test_braintree_transaction_in_another_currency_or_short_does_not_pay(
    tmp_path: Path, braintree: FakeBraintree, change: dict[str, Any], paid: bool
) -> None:
    """Reconciliation finds the sale whose answer was lost; its transaction must pay the price."""
    settings = {"reconcile_interval": 0.1, "reconcile_after": 0}
    async with running_daemon(tmp_path, bt_overrides(braintree, **settings)) as d:
        braintree.lose_next_answers = 1
        braintree.lost_sale_changes = change  # stored so: reconciliation may look at once
        reply = await d.call(
            "payment.processBraintreePayment",
            {"paymentNonce": "fake-valid-nonce", "product": "gold"},
        )
        assert reply["error"]["message"] == "Provider error: Braintree timed out"
        [charged] = braintree.transactions.values()
        pid = charged["order_id"]
        settled = await wait_until(lambda: _settled(d, pid), timeout=10)
        assert settled == ("paid" if paid else "seen")


@pytest.mark.parametrize(
    ("price", "currency", "paid"),
    [(100_000, "JPY", False), (1_000, "USD", False), (9_990, "USD", True)],
)
async def test_app_store_transaction_must_pay_the_open_payment_it_settles(
    tmp_path: Path,
    chain: AppleChain,  # noqa: F811
    signer: AppleSigner,  # noqa: F811
    apple: VerifyReceiptServer,  # noqa: F811
    price: int,
    currency: str,
    paid: bool,
) -> None:
    """A payment already open for a transaction (USD 9.99) is paid only by Apple's own price."""
    jws, tx = signer.transaction(COINS, price=price, currency=currency)
    async with running_daemon(tmp_path, appstore_settings(tmp_path, chain, apple)) as d:
        open_payment = await d.processor.create(
            NewPayment(
                method="appstore",
                asset="USD",
                amount=Decimal("9.99"),
                data="null",
                provider_ref=tx["transactionId"],
                product="coins100",
            )
        )
        await d.call("payment.validateAppStore", {"receipt": jws})
        assert await _status(d, open_payment.id) == ("paid" if paid else "seen")


TWO_PRICES = {
    "name": "Cake",
    "description": "A cake",
    "defaultPrice": "US",
    "price": [
        {"country": "US", "currency": "USD", "amount": "5.50"},
        {"country": "BR", "currency": "BRL", "amount": "8.50"},
    ],
}


@pytest.mark.parametrize(
    ("price", "paid"),
    [
        ({"amount": "1000", "currency": "JPY"}, False),
        ({"amount": "5.49", "currency": "USD"}, False),
        ({"amount": "8.00", "currency": "BRL"}, False),
        ({"currency": "USD"}, False),
        ({"amount": "8.50", "currency": "BRL"}, True),
        ({"amount": "5.50", "currency": "USD"}, True),
        (None, True),
    ],
)
async def test_in_app_postback_price_must_be_one_of_the_offered_prices(
    tmp_path: Path, price: dict[str, str] | None, paid: bool
) -> None:
    async with running_daemon(tmp_path, {"plugins": {"inapp": inapp_settings()}}) as d:
        reply = await d.call("payment.createInAppRequest", TWO_PRICES)
        claims = read_request(reply["result"]["jwt"])
        response: dict[str, Any] = {} if price is None else {"price": price}
        token, _ = notice(claims, **response)
        assert (await post_notice(d.session, d.public_url + "/inapp/postback", token))[0] == 200
        assert await _status(d, reply["result"]["id"]) == ("paid" if paid else "seen")

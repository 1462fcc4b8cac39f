"""Media access API parameter parsing: the API's names, 0/1 booleans, minor units, clear refusals."""

from __future__ import annotations

from typing import Any

import pytest

from xbtcpay.commerce.media_access import params as media_params
from xbtcpay.core.errors import InvalidParams


def test_itemstate() -> None:
    req = media_params.item_state(
        {"item": 42, "streamtype": "video", "performTransactionIfPossible": 1}
    )
    assert (req.item, req.streamtype, req.perform) == ("42", "video", True)
    assert media_params.item_state({"item": "42"}).perform is False


def test_prepare_with_every_seed_name() -> None:
    req = media_params.prepare(
        {
            "operation": "subscription",
            "item": 42,
            "streamtype": "video",
            "reference": "pi_1",
            "amount": 499,
            "currency": "eur",
            "provider": "stripe",
            "paymentType": "creditcard",
            "affiliateParam": "aff",
            "subscriptionDuration": 1,
            "subscriptionIsPremium": 0,
            "subscriptionWillRenew": 1,
            "subscriptionCanRenew": 1,
            "subscriptionWillBePayedMonthly": 0,
            "capturePaymentOn": 1_900_000_000,
        }
    )
    assert req.amount == 499 and req.currency == "EUR" and req.monthly is False
    assert req.capture_on == 1_900_000_000 and req.affiliate == "aff" and not req.premium


def test_finish_with_every_seed_name() -> None:
    req = media_params.finish(
        {
            "transactionID": 7,
            "token": "tok",
            "reference": "pi_1",
            "paymentType": "creditcard",
            "finalPayment": 399,
            "isLatePremium": 1,
            "externalUserID": "cus_1",
            "externalTransactionReference": "x-7",
        }
    )
    assert req.final_payment == 399 and req.late_premium and req.external_user_id == "cus_1"


@pytest.mark.parametrize(
    ("parse", "params", "message"),
    [
        (media_params.item_state, {}, "missing item"),
        (media_params.item_state, {"item": 1.5}, "item must be a media id"),
        (
            media_params.item_state,
            {"item": 1, "performTransactionIfPossible": 2},
            "performTransactionIfPossible must be 0 or 1",
        ),
        (media_params.prepare, {"operation": "gift"}, "operation must be one of"),
        (
            media_params.prepare,
            {"operation": "ppv", "amount": 199, "currency": "EUR", "provider": "stripe"},
            "missing item",
        ),
        (
            media_params.prepare,
            {"operation": "deposit", "amount": 1.99, "currency": "EUR", "provider": "stripe"},
            "amount must be an integer",
        ),
        (
            media_params.prepare,
            {"operation": "deposit", "amount": -5, "currency": "EUR", "provider": "stripe"},
            "amount must be an integer",
        ),
        (
            media_params.prepare,
            {"operation": "deposit", "amount": 500, "currency": "euro", "provider": "stripe"},
            "currency must be an ISO 4217 code",
        ),
        (
            media_params.prepare,
            {"operation": "deposit", "amount": 500, "currency": "EUR"},
            "missing provider",
        ),
        (
            media_params.prepare,
            {
                "operation": "subscription",
                "amount": 5,
                "currency": "EUR",
                "provider": "x",
                "subscriptionDuration": 0,
            },
            "subscriptionDuration",
        ),
        (media_params.finish, {}, "missing or invalid transactionID"),
        (media_params.finish, {"transactionID": True}, "missing or invalid transactionID"),
        (
            media_params.verify_inapp,
            {"operation": "ppv", "provider": "zz", "receipt": "r"},
            "provider must be one of io, go, am",
        ),
        (media_params.verify_inapp, {"operation": "ppv", "provider": "io"}, "missing receipt"),
        (media_params.add_external, {}, "missing validUntil"),
        (media_params.upgrade, {"amount": 100}, "missing transactionID"),
        (
            media_params.cancel,
            {"transactionID": 1, "cancelTransaction": "yes"},
            "cancelTransaction must be 0 or 1",
        ),
        (media_params.voucher_code, {}, "exactly one of vouchercode or referencecode"),
        (
            media_params.voucher_code,
            {"vouchercode": "A", "referencecode": "B"},
            "exactly one of vouchercode or referencecode",
        ),
    ],
)
def test_refusals_name_the_parameter(parse: Any, params: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidParams) as err:
        parse(params)
    assert message in str(err.value.detail)


def test_customer() -> None:
    assert media_params.customer_of({"customer": "u-1"}) == "u-1"
    for bad in ({}, {"customer": ""}, {"customer": "a b"}, {"customer": "x" * 129}):
        with pytest.raises(InvalidParams):
            media_params.customer_of(bad)


def test_store_params_and_facts_per_store() -> None:
    from xbtcpay.commerce.media_access.inapp import store_facts, store_params

    assert store_params("io", "JWS", "u") == {"receipt": "JWS", "customer": "u"}
    receipt = '{"purchaseToken": "tok-1", "productId": "basic.monthly", "orderId": "GPA.1"}'
    assert store_params("go", receipt, "u") == {
        "purchase_token": "tok-1",
        "product_id": "basic.monthly",
        "customer": "u",
    }
    for bad in ("not json", "[]", '{"purchaseToken": 1, "productId": "x"}'):
        with pytest.raises(InvalidParams):
            store_params("go", bad, "u")
    assert store_facts(
        "io",
        {"transactionId": "2", "originalTransactionId": "1", "expiresDate": 1_800_000_000_999},
        "JWS",
    ) == ("2", "1", 1_800_000_000)
    assert store_facts("go", {"orderId": "GPA.1", "expiryTime": 1_800_000_000_000}, receipt) == (
        "GPA.1",
        "tok-1",
        1_800_000_000,
    )

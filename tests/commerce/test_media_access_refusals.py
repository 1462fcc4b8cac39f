"""Every media access API method's refusals over all three transports: the same code and message,
and nothing written."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.commerce.media import TRANSPORTS, Clock, media_daemon, refused

C = {"customer": "r1"}
REFUSALS: list[tuple[str, dict[str, Any], int, str]] = [
    ("payment.itemstate", {"item": 1}, -32602, "customer"),
    ("payment.itemstate", {**C}, -32602, "missing item"),
    ("payment.itemstate", {**C, "item": [1]}, -32602, "item must be a media id"),
    (
        "payment.itemstate",
        {**C, "item": 1, "performTransactionIfPossible": "x"},
        -32602,
        "performTransactionIfPossible must be 0 or 1",
    ),
    ("payment.entitlements", {}, -32602, "customer"),
    ("payment.redeemvoucher", {**C}, -32602, "exactly one of vouchercode or referencecode"),
    ("payment.redeemvoucher", {**C, "vouchercode": "AB"}, -32602, "invalid vouchercode"),
    ("payment.redeemvoucher", {**C, "vouchercode": "NO-SUCH-CODE"}, -32020, "unknown voucher code"),
    ("payment.preparetransaction", {**C, "operation": "x"}, -32602, "operation must be"),
    (
        "payment.preparetransaction",
        {**C, "operation": "deposit", "amount": 100, "currency": "EUR"},
        -32602,
        "missing provider",
    ),
    (
        "payment.preparetransaction",
        {**C, "operation": "deposit", "amount": "1.5", "currency": "EUR", "provider": "x"},
        -32602,
        "amount must be an integer",
    ),
    ("payment.finishtransaction", {**C}, -32602, "transactionID"),
    ("payment.finishtransaction", {**C, "transactionID": 77}, -32004, "unknown transactionID"),
    (
        "payment.finishtransaction",
        {**C, "transactionID": 77, "isLatePremium": 5},
        -32602,
        "isLatePremium must be 0 or 1",
    ),
    (
        "payment.verifyinapptransaction",
        {**C, "operation": "ppv", "provider": "io"},
        -32602,
        "missing receipt",
    ),
    (
        "payment.verifyinapptransaction",
        {**C, "operation": "gift", "provider": "io", "receipt": "r"},
        -32602,
        "operation must be",
    ),
    (
        "payment.verifyinapptransaction",
        {**C, "operation": "ppv", "provider": "am", "receipt": "r"},
        -32022,
        "not supported",
    ),
    (
        "payment.verifyinapptransaction",
        {**C, "operation": "ppv", "provider": "go", "receipt": "r"},
        -32021,
        "not enabled",
    ),
    ("payment.addexternalsubscription", {**C}, -32602, "missing validUntil"),
    (
        "payment.addexternalsubscription",
        {**C, "validUntil": 10, "isPremium": 3},
        -32602,
        "isPremium must be 0 or 1",
    ),
    ("payment.upgradesubscription", {**C, "amount": 1}, -32602, "missing transactionID"),
    (
        "payment.upgradesubscription",
        {**C, "transactionID": "p", "amount": -1},
        -32602,
        "amount must be an integer",
    ),
    (
        "payment.upgradesubscription",
        {**C, "transactionID": "p", "amount": 1},
        -32023,
        "no running default subscription",
    ),
    ("payment.cancelsubscription", {**C}, -32602, "transactionID"),
    ("payment.cancelsubscription", {**C, "transactionID": 5}, -32004, "unknown transactionID"),
    (
        "payment.cancelsubscription",
        {**C, "transactionID": 5, "reasonText": 7.5},
        -32602,
        "reasonText must be a string",
    ),
    ("voucher.create", {"grants": {"product": "rent42"}}, -32602, "exactly one of code"),
    (
        "voucher.create",
        {"code": "GOOD-CODE", "grants": {"discount": {"product": "rent42"}}},
        -32602,
        "grants.discount",
    ),
]
TABLES = (
    "subscriptions",
    "commerce_transactions",
    "entitlements",
    "vouchers",
    "voucher_redemptions",
    "item_buys",
    "discounts",
    "subscription_payments",
)


@pytest.fixture
async def d(tmp_path: Path) -> Any:
    async with media_daemon(tmp_path, Clock(), {"commerce": {"voucher_failures": 1000}}) as h:
        yield h


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_refusals_over_every_transport(d: Any, transport: str) -> None:
    for method, params, code, text in REFUSALS:
        err = await refused(d, method, params, transport)
        assert err["code"] == code and text in err["message"], (method, params, err)
    for table in TABLES:
        row = await d.runtime.db.fetchone(f"SELECT COUNT(*) AS n FROM {table}")
        assert row["n"] == 0, table

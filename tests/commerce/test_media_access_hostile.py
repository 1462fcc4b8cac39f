"""Hostile values in every parameter of every media access API method: a clear error or a success,
never an internal error."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.commerce.media import Clock, media_daemon

PARAMS = {
    "payment.itemstate": ["item", "streamtype", "performTransactionIfPossible"],
    "payment.entitlements": [],
    "payment.redeemvoucher": ["vouchercode", "referencecode"],
    "payment.preparetransaction": [
        "operation",
        "item",
        "streamtype",
        "reference",
        "amount",
        "currency",
        "provider",
        "paymentType",
        "affiliateParam",
        "subscriptionDuration",
        "subscriptionIsPremium",
        "subscriptionWillRenew",
        "subscriptionCanRenew",
        "subscriptionWillBePayedMonthly",
        "capturePaymentOn",
        "product",
    ],
    "payment.finishtransaction": [
        "transactionID",
        "token",
        "reference",
        "paymentType",
        "finalPayment",
        "isLatePremium",
        "externalUserID",
        "externalTransactionReference",
    ],
    "payment.verifyinapptransaction": [
        "operation",
        "item",
        "streamtype",
        "provider",
        "amount",
        "currency",
        "amount_original",
        "isPremium",
        "receipt",
    ],
    "payment.addexternalsubscription": ["validUntil", "isPremium", "product"],
    "payment.upgradesubscription": ["transactionID", "amount", "currency", "subscription"],
    "payment.cancelsubscription": [
        "transactionID",
        "cancelTransaction",
        "skipEmail",
        "reasonText",
        "immediately",
    ],
    "voucher.create": [
        "code",
        "reference",
        "grants",
        "valid_from",
        "valid_until",
        "max_uses",
        "max_uses_per_customer",
    ],
}
JUNK: list[Any] = [
    None,
    True,
    False,
    -1,
    0,
    1.5,
    2**70,
    "",
    "x" * 5000,
    "0",
    "1",
    "\u0000\ud7ff",
    [],
    [1],
    {},
    {"a": {"b": 1}},
]
VALID: dict[str, Any] = {
    "operation": "ppv",
    "item": 42,
    "amount": 199,
    "currency": "EUR",
    "provider": "io",
    "receipt": "x",
    "transactionID": 1,
    "validUntil": 1_900_000_000,
    "code": "SOME-CODE",
    "grants": {"product": "rent42"},
    "vouchercode": "SOME-CODE",
}


async def test_no_hostile_value_is_an_internal_error(tmp_path: Path) -> None:
    calls = 0
    async with media_daemon(tmp_path, Clock(), {"commerce": {"voucher_failures": 10**6}}) as d:
        for method, names in PARAMS.items():
            for name in names + ["customer"]:
                for junk in JUNK:
                    base = {k: v for k, v in VALID.items() if k in names}
                    params = {"customer": "h1", **base, name: junk}
                    reply = await d.call(method, params)
                    calls += 1
                    error = reply.get("error")
                    assert error is None or error["code"] != -32603, (method, name, junk, reply)
        async with d.session.get(d.public_url + "/healthz") as health:
            assert health.status == 200
    assert calls == sum(len(n) + 1 for n in PARAMS.values()) * len(JUNK)

"""preparetransaction / finishtransaction over every transport: grants, idempotency,
prepare_ttl expiry, cancelTransaction, and itemstate at each step (injected clock)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from tests.commerce.media import TRANSPORTS, Clock, media_daemon, ok, refused

C = {"customer": "user-1"}
SUB = {
    **C,
    "operation": "subscription",
    "amount": 499,
    "currency": "EUR",
    "provider": "stripe",
    "subscriptionDuration": 1,
    "subscriptionIsPremium": 0,
    "subscriptionWillRenew": 1,
}


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def d(tmp_path: Path, clock: Clock) -> Any:
    async with media_daemon(tmp_path, clock) as handle:
        yield handle


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_subscription_prepare_finish_itemstate(d: Any, clock: Clock, transport: str) -> None:
    state = await ok(d, "payment.itemstate", {**C, "item": 42}, transport)
    assert state == {"access": False, "reason": "no_entitlement", "valid_until": None, "via": None}
    prepared = await ok(d, "payment.preparetransaction", SUB, transport)
    tx = prepared["transactionID"]
    assert isinstance(tx, int)
    assert not (await ok(d, "payment.itemstate", {**C, "item": 42}, transport))["access"]
    finished = await ok(
        d,
        "payment.finishtransaction",
        {
            **C,
            "transactionID": tx,
            "reference": "pi_1",
            "token": "tok",
            "paymentType": "creditcard",
            "finalPayment": 399,
        },
        transport,
    )
    assert finished["state"] == "finished" and finished["finalPayment"] == 399
    receipt = await ok(d, "receipt.get", {"number": finished["receipt"]}, transport)
    assert receipt["customer"] == "user-1" and receipt["total"] == "3.99", receipt
    assert finished["amount"] == 499 and finished["product"] == "basic"
    state = await ok(d, "payment.itemstate", {**C, "item": 42, "streamtype": "video"}, transport)
    assert state["access"] and state["reason"] == "subscription"
    assert state["valid_until"] == int(clock.now) + 28 * 86400  # 31 Jan -> 28 Feb
    clock.advance(28 * 86400)
    state = await ok(d, "payment.itemstate", {**C, "item": 42}, transport)
    assert state["access"] is False and state["reason"] == "expired"


async def test_finish_is_idempotent_and_a_different_finish_conflicts(d: Any) -> None:
    tx = (await ok(d, "payment.preparetransaction", SUB))["transactionID"]
    finish = {**C, "transactionID": tx, "reference": "pi_9", "finalPayment": 499}
    first = await ok(d, "payment.finishtransaction", finish)
    again = await asyncio.gather(*(ok(d, "payment.finishtransaction", finish) for _ in range(10)))
    assert all(a == first for a in again)
    err = await refused(d, "payment.finishtransaction", {**finish, "finalPayment": 1})
    assert err["code"] == -32009 and "other parameters" in err["message"]
    history = await d.runtime.media.subscriptions.history(first["subscription"])
    assert [p["kind"] for p in history["payments"]] == ["initial"]
    assert [e["event"] for e in history["events"]] == ["create", "finish"]


async def test_concurrent_first_finishes_settle_once(d: Any) -> None:
    tx = (await ok(d, "payment.preparetransaction", SUB))["transactionID"]
    finish = {**C, "transactionID": tx, "reference": "pi_c", "finalPayment": 499}
    answers = await asyncio.gather(*(ok(d, "payment.finishtransaction", finish) for _ in range(20)))
    assert len({json.dumps(a, sort_keys=True) for a in answers}) == 1
    payments = await d.runtime.db.fetchall("SELECT * FROM subscription_payments")
    assert len(payments) == 1


async def test_ppv_ownage_and_deposit(d: Any, clock: Clock) -> None:
    rent = await ok(
        d,
        "payment.preparetransaction",
        {
            **C,
            "operation": "ppv",
            "item": 42,
            "amount": 199,
            "currency": "EUR",
            "provider": "braintree",
        },
    )
    await ok(d, "payment.finishtransaction", {**C, "transactionID": rent["transactionID"]})
    state = await ok(d, "payment.itemstate", {**C, "item": 42})
    assert state["reason"] == "ppv" and state["valid_until"] == int(clock.now) + 48 * 3600
    assert not (await ok(d, "payment.itemstate", {**C, "item": 43}))["access"]
    clock.advance(48 * 3600)
    assert (await ok(d, "payment.itemstate", {**C, "item": 42}))["reason"] == "expired"
    own = await ok(
        d,
        "payment.preparetransaction",
        {
            **C,
            "operation": "ownage",
            "item": 42,
            "amount": 499,
            "currency": "EUR",
            "provider": "stripe",
        },
    )
    await ok(d, "payment.finishtransaction", {**C, "transactionID": own["transactionID"]})
    clock.advance(10 * 365 * 86400)
    state = await ok(d, "payment.itemstate", {**C, "item": 42})
    assert (state["access"], state["reason"], state["valid_until"]) == (True, "ownage", None)
    listed = (await ok(d, "payment.entitlements", C))["entitlements"]
    assert [(e["kind"], e["active"]) for e in listed] == [("ownage", True), ("ppv", False)]
    dep = await ok(
        d,
        "payment.preparetransaction",
        {**C, "operation": "deposit", "amount": 1000, "currency": "EUR", "provider": "stripe"},
    )
    await ok(
        d,
        "payment.finishtransaction",
        {**C, "transactionID": dep["transactionID"], "finalPayment": 950},
    )
    balances = (await ok(d, "balance.get", C))["balances"]
    assert [(b["currency"], b["amount_minor"]) for b in balances] == [("EUR", 950)]
    entries = await d.runtime.db.fetchall(
        "SELECT kind, amount, idempotency_key FROM ledger_entries"
    )
    assert [tuple(e) for e in entries] == [("top_up", 950, f"transaction:{dep['transactionID']}")]


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_prepare_refusals(d: Any, transport: str) -> None:
    cases = [
        ({**SUB, "amount": 100}, -32602, "amount differs from the catalog price"),
        ({**SUB, "currency": "USD"}, -32602, "not sold in USD"),
        ({**SUB, "subscriptionDuration": 3}, -32602, "no subscription product"),
        ({**SUB, "customer": ""}, -32602, "customer"),
        (
            {
                **C,
                "operation": "ppv",
                "item": 99,
                "amount": 199,
                "currency": "EUR",
                "provider": "x",
            },
            -32602,
            "no ppv product unlocks this item",
        ),
        (
            {
                **C,
                "operation": "deposit",
                "product": "basic",
                "amount": 5,
                "currency": "EUR",
                "provider": "x",
            },
            -32602,
            "a deposit names no product",
        ),
        ({**SUB, "product": "movie42"}, -32602, "not a subscription product"),
    ]
    for params, code, text in cases:
        err = await refused(d, "payment.preparetransaction", params, transport)
        assert err["code"] == code and text in err["message"], (params, err)
    count = await d.runtime.db.fetchone("SELECT COUNT(*) AS n FROM commerce_transactions")
    assert count["n"] == 0


async def test_reference_reuse_is_a_conflict(d: Any) -> None:
    await ok(d, "payment.preparetransaction", {**SUB, "reference": "pi_same"})
    err = await refused(d, "payment.preparetransaction", {**SUB, "reference": "pi_same"})
    assert err["code"] == -32009


async def test_finish_refusals_and_other_customers(d: Any) -> None:
    tx = (await ok(d, "payment.preparetransaction", SUB))["transactionID"]
    err = await refused(
        d, "payment.finishtransaction", {"customer": "intruder", "transactionID": tx}
    )
    assert err["code"] == -32004
    err = await refused(d, "payment.finishtransaction", {**C, "transactionID": 999999})
    assert err["code"] == -32004
    err = await refused(
        d, "payment.finishtransaction", {**C, "transactionID": tx, "finalPayment": 1.5}
    )
    assert err["code"] == -32602
    assert not (await ok(d, "payment.itemstate", {"customer": "intruder", "item": 1}))["access"]


async def test_prepared_transactions_expire_after_prepare_ttl(d: Any, clock: Clock) -> None:
    tx = (await ok(d, "payment.preparetransaction", SUB))["transactionID"]
    clock.advance(86400)
    err = await refused(d, "payment.finishtransaction", {**C, "transactionID": tx})
    assert err["code"] == -32023 and "expired" in err["message"]
    err = await refused(d, "payment.finishtransaction", {**C, "transactionID": tx})
    assert "transaction is expired" in err["message"]
    other = (await ok(d, "payment.preparetransaction", SUB))["transactionID"]
    clock.advance(86400)
    assert await d.runtime.media.transactions.expire_due() == 1
    row = await d.runtime.db.fetchone(
        "SELECT t.state, s.state AS sub FROM commerce_transactions t JOIN subscriptions s"
        " ON s.id = t.subscription_id WHERE t.id = ?",
        (other,),
    )
    assert (row["state"], row["sub"]) == ("expired", "expired")


async def test_cancel_transaction_only_when_the_original_failed(d: Any) -> None:
    tx = (await ok(d, "payment.preparetransaction", SUB))["transactionID"]
    done = await ok(
        d, "payment.cancelsubscription", {**C, "transactionID": tx, "cancelTransaction": 1}
    )
    assert done["deleted"] and done["state"] == "deleted"
    err = await refused(d, "payment.finishtransaction", {**C, "transactionID": tx})
    assert "deleted" in err["message"]
    paid = (await ok(d, "payment.preparetransaction", SUB))["transactionID"]
    await ok(d, "payment.finishtransaction", {**C, "transactionID": paid})
    err = await refused(
        d, "payment.cancelsubscription", {**C, "transactionID": paid, "cancelTransaction": 1}
    )
    assert err["code"] == -32023 and "cancelTransaction=0" in err["message"]
    assert (await ok(d, "payment.itemstate", {**C, "item": 1}))["access"]

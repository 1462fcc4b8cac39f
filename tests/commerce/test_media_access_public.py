"""The media access API's methods on the public port with a shop-issued session: the session's own
customer only, voucher.create never."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from tests.commerce.media import Clock, media_daemon, ok
from tests.commerce.setup import SESSION_SECRET, session


async def public(d: Any, method: str, data: Any, token: str) -> tuple[int, dict[str, Any]]:
    async with d.session.post(
        f"{d.public_url}/api/v0/rpc/{method}", json=data, headers={"X-Session-Id": token}
    ) as resp:
        return resp.status, dict(await resp.json())


SESSIONS = {"sessions": {"secret": SESSION_SECRET, "algorithms": ["HS256"]}}


async def test_a_session_buys_and_watches_for_itself_only(tmp_path: Path) -> None:
    async with media_daemon(tmp_path, Clock(time.time()), SESSIONS) as d:
        alice, bob = session("alice"), session("bob")
        status, body = await public(
            d,
            "payment.preparetransaction",
            {
                "operation": "ppv",
                "item": 42,
                "amount": 199,
                "currency": "EUR",
                "provider": "stripe",
            },
            alice,
        )
        assert status == 200, body
        tx = body["data"]["transactionID"]
        status, body = await public(
            d,
            "payment.preparetransaction",
            {
                "operation": "subscription",
                "amount": 499,
                "currency": "EUR",
                "provider": "stripe",
                "reference": "sub_of_someone_else",
            },
            alice,
        )
        assert status == 400 and "reference is set by the shop" in body["error"]["message"]
        for method, params in (
            ("payment.finishtransaction", {"transactionID": tx}),
            ("payment.addexternalsubscription", {"validUntil": 2**31}),
            ("payment.upgradesubscription", {"transactionID": "x", "amount": 0}),
        ):
            status, body = await public(d, method, params, alice)
            assert status == 403, (method, body)  # the shop's word only, not the app's
        assert not (await public(d, "payment.itemstate", {"item": 42}, alice))[1]["data"]["access"]
        await ok(d, "payment.finishtransaction", {"customer": "alice", "transactionID": tx})
        status, body = await public(
            d, "payment.cancelsubscription", {"transactionID": tx, "cancelTransaction": 1}, bob
        )
        assert status == 404  # not bob's
        _, body = await public(d, "payment.itemstate", {"item": 42}, alice)
        assert body["data"]["access"] is True and body["data"]["reason"] == "ppv"
        _, body = await public(d, "payment.itemstate", {"item": 42}, bob)
        assert body["data"]["access"] is False
        status, body = await public(d, "payment.itemstate", {"item": 42, "customer": "bob"}, alice)
        assert status == 403
        status, body = await public(
            d, "voucher.create", {"code": "FREE-STUFF", "grants": {"product": "movie42"}}, alice
        )
        assert status == 403
        await ok(d, "voucher.create", {"code": "FREE-STUFF", "grants": {"product": "movie42"}})
        status, body = await public(d, "payment.redeemvoucher", {"vouchercode": "free-stuff"}, bob)
        assert status == 200 and body["data"]["redeemed"]
        status, body = await public(d, "payment.itemstate", {"item": 42}, "not-a-session")
        assert status == 401


async def test_websocket_with_a_session(tmp_path: Path) -> None:
    async with media_daemon(tmp_path, Clock(time.time()), SESSIONS) as d:
        await ok(
            d,
            "payment.addexternalsubscription",
            {"customer": "carol", "validUntil": int(time.time()) + 3600},
        )
        url = f"{d.public_url}/ws?session={session('carol')}"
        async with d.session.ws_connect(url) as ws:
            await ws.send_json(
                {
                    "endpoint": "payment:itemstate",
                    "data": {"item": 7},
                    "event": {"id": "e1", "date": 0},
                }
            )
            reply = await ws.receive_json(timeout=30)
        assert reply["data"]["access"] is True and reply["data"]["reason"] == "subscription"


async def test_sessions_count_voucher_failures_per_address_the_shop_per_customer(
    tmp_path: Path,
) -> None:
    async with media_daemon(tmp_path, Clock(time.time()), SESSIONS) as d:
        await ok(d, "voucher.create", {"code": "FOR-REAL-9", "grants": {"product": "rent42"}})
        for i in range(5):
            _, body = await public(
                d, "payment.redeemvoucher", {"vouchercode": f"GUESS-{i}"}, session(f"guess{i}")
            )
            assert body["error"]["code"] == -32020, body
        status, body = await public(
            d, "payment.redeemvoucher", {"vouchercode": "FOR-REAL-9"}, session("dave")
        )
        assert status == 429 and body["error"]["code"] == -32029, body  # the same address
        # the shop's backend, calling for dave from that address, is limited per customer
        await ok(d, "payment.redeemvoucher", {"customer": "dave", "vouchercode": "FOR-REAL-9"})


async def test_subscription_is_premium_does_not_make_a_basic_subscription_premium(
    tmp_path: Path,
) -> None:
    """The app asks for premium on the basic product at the basic price: the subscription is
    the basic product's, not premium."""
    async with media_daemon(tmp_path, Clock(time.time()), SESSIONS) as d:
        status, body = await public(
            d,
            "payment.preparetransaction",
            {
                "operation": "subscription",
                "product": "basic",
                "subscriptionIsPremium": 1,
                "amount": 499,
                "currency": "EUR",
                "provider": "stripe",
            },
            session("alice"),
        )
        assert status == 200, body
        tx = body["data"]["transactionID"]
        done = await ok(d, "payment.finishtransaction", {"customer": "alice", "transactionID": tx})
        sub = await d.runtime.media.subscriptions.get(done["subscription"])
        assert sub is not None and sub.product == "basic" and sub.premium is False
        _, body = await public(d, "payment.entitlements", {}, session("alice"))
        assert [e["premium"] for e in body["data"]["entitlements"]] == [False]


async def test_a_session_cannot_prepare_an_unbounded_deposit(tmp_path: Path) -> None:
    deposit = {"operation": "deposit", "currency": "EUR", "provider": "stripe"}
    async with media_daemon(tmp_path, Clock(time.time()), SESSIONS) as d:
        alice = session("alice")
        for amount in (10**15, 100_001):
            status, body = await public(
                d, "payment.preparetransaction", {**deposit, "amount": amount}, alice
            )
            assert status == 400 and body["error"]["code"] == -32602, (amount, body)
            assert "max_prepared_amount" in body["error"]["message"]
        status, body = await public(
            d, "payment.preparetransaction", {**deposit, "amount": 100_000}, alice
        )
        assert status == 200, body
        # the shop's own call on the private port keeps its reach
        await ok(d, "payment.preparetransaction", {**deposit, "amount": 10**15, "customer": "bob"})
    overrides = {**SESSIONS, "commerce": {"max_prepared_amount": 500}}
    (tmp_path / "low").mkdir()
    async with media_daemon(tmp_path / "low", Clock(time.time()), overrides) as d:
        status, body = await public(
            d, "payment.preparetransaction", {**deposit, "amount": 501}, session("alice")
        )
        assert status == 400 and body["error"]["code"] == -32602, body

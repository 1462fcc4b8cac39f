"""Vouchers end to end: voucher.create, redeemvoucher over every transport, each grant,
windows, limits, the 50-way race on a single-use code, rate-limited failures, no code stored
or logged."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from tests import pg
from tests.commerce.media import TRANSPORTS, Clock, media_daemon, ok, refused

DAY = 86400


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def d(tmp_path: Path, clock: Clock) -> Any:
    async with media_daemon(tmp_path, clock, {"commerce": {"voucher_failures": 5}}) as handle:
        yield handle


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_create_and_redeem_a_product_voucher(d: Any, transport: str) -> None:
    made = await ok(
        d,
        "voucher.create",
        {"code": "WELCOME-42", "grants": {"product": "movie42"}, "max_uses": 10},
        transport,
    )
    assert made["grants"] == {"product": "movie42"} and "code" not in made
    got = await ok(
        d, "payment.redeemvoucher", {"customer": "v1", "vouchercode": "welcome-42"}, transport
    )
    assert got["redeemed"] and got["granted"]["kind"] == "ownage"
    state = await ok(d, "payment.itemstate", {"customer": "v1", "item": 42}, transport)
    assert state["access"] and state["via"].startswith("voucher:")


async def test_subscription_balance_and_discount_grants(d: Any, clock: Clock) -> None:
    await ok(d, "voucher.create", {"code": "PREMIUM-MONTH", "grants": {"product": "premium"}})
    await ok(
        d,
        "voucher.create",
        {"reference": "ext-77", "grants": {"balance": {"currency": "EUR", "amount": "5.00"}}},
    )
    await ok(
        d,
        "voucher.create",
        {"code": "HALF-MOVIE", "grants": {"discount": {"product": "movie42", "percent": "50"}}},
    )
    sub = await ok(d, "payment.redeemvoucher", {"customer": "v2", "vouchercode": "PREMIUM-MONTH"})
    assert sub["granted"]["valid_until"] == int(clock.now) + 28 * DAY
    bal = await ok(d, "payment.redeemvoucher", {"customer": "v2", "referencecode": "ext-77"})
    assert bal["granted"] == {"kind": "balance", "currency": "EUR", "amount": "5.00"}
    balances = (await ok(d, "balance.get", {"customer": "v2"}))["balances"]
    assert [(b["currency"], b["amount"]) for b in balances] == [("EUR", "5.00")]
    await ok(d, "payment.redeemvoucher", {"customer": "v3", "vouchercode": "HALF-MOVIE"})
    movie = {
        "customer": "v3",
        "operation": "ownage",
        "item": 42,
        "currency": "EUR",
        "provider": "stripe",
    }
    err = await refused(d, "payment.preparetransaction", {**movie, "amount": 100})
    assert "catalog price" in err["message"]
    tx = (await ok(d, "payment.preparetransaction", {**movie, "amount": 250}))["transactionID"]
    await ok(d, "payment.finishtransaction", {"customer": "v3", "transactionID": tx})
    err = await refused(d, "payment.preparetransaction", {**movie, "amount": 250})
    assert "catalog price" in err["message"]  # the discount was used


async def test_fifty_concurrent_redemptions_of_a_single_use_code(d: Any) -> None:
    await ok(
        d, "voucher.create", {"code": "ONLY-ONCE", "grants": {"product": "rent42"}, "max_uses": 1}
    )
    results = await asyncio.gather(
        *(
            d.call("payment.redeemvoucher", {"customer": f"racer{i}", "vouchercode": "ONLY-ONCE"})
            for i in range(50)
        )
    )
    wins = [r for r in results if "result" in r]
    losses = [r for r in results if "error" in r]
    assert len(wins) == 1 and len(losses) == 49
    assert {r["error"]["message"] for r in losses} == {"Voucher refused: voucher used up"}
    rows = await d.runtime.db.fetchall("SELECT customer FROM entitlements")
    assert len(rows) == 1
    used = await d.runtime.db.fetchone("SELECT uses FROM vouchers")
    redemptions = await d.runtime.db.fetchall("SELECT * FROM voucher_redemptions")
    assert used["uses"] == 1 and len(redemptions) == 1


async def test_per_customer_limit_and_windows(d: Any, clock: Clock) -> None:
    now = int(clock.now)
    await ok(
        d,
        "voucher.create",
        {
            "code": "TWICE-EACH",
            "grants": {"product": "rent42"},
            "max_uses_per_customer": 1,
            "valid_from": now + DAY,
            "valid_until": now + 3 * DAY,
        },
    )
    redeem = {"customer": "w1", "vouchercode": "TWICE-EACH"}
    assert "not valid yet" in (await refused(d, "payment.redeemvoucher", redeem))["message"]
    clock.advance(DAY)
    await ok(d, "payment.redeemvoucher", redeem)
    err = await refused(d, "payment.redeemvoucher", redeem)
    assert "already redeemed by this customer" in err["message"]
    await ok(d, "payment.redeemvoucher", {**redeem, "customer": "w2"})
    clock.advance(2 * DAY)
    err = await refused(d, "payment.redeemvoucher", {**redeem, "customer": "w3"})
    assert "expired" in err["message"]
    used = await d.runtime.db.fetchone("SELECT uses FROM vouchers")
    assert used["uses"] == 2


async def test_create_refusals(d: Any) -> None:
    for params, text in (
        ({"grants": {"product": "movie42"}}, "exactly one of code or reference"),
        ({"code": "AB", "grants": {"product": "movie42"}}, "invalid code"),
        ({"code": "ABCD", "grants": {"product": "nope"}}, "unknown product"),
        ({"code": "ABCD", "grants": {"product": "movie42"}, "max_uses": 0}, "max_uses"),
        (
            {"code": "ABCD", "grants": {"product": "movie42"}, "valid_from": 10, "valid_until": 5},
            "valid_from must be before",
        ),
    ):
        err = await refused(d, "voucher.create", params)
        assert text in err["message"], err
    await ok(d, "voucher.create", {"code": "ABCD", "grants": {"product": "movie42"}})
    err = await refused(d, "voucher.create", {"code": "abcd", "grants": {"product": "movie42"}})
    assert err["code"] == -32009


async def test_failures_are_rate_limited_and_logged_without_the_code(
    d: Any, clock: Clock, capsys: pytest.CaptureFixture[str]
) -> None:
    await ok(d, "voucher.create", {"code": "REAL-CODE-1", "grants": {"product": "rent42"}})
    for i in range(5):
        err = await refused(
            d, "payment.redeemvoucher", {"customer": "guesser", "vouchercode": f"GUESS-{i}-SECRET"}
        )
        assert err["code"] == -32020
    err = await refused(
        d, "payment.redeemvoucher", {"customer": "guesser", "vouchercode": "REAL-CODE-1"}
    )
    assert err["code"] == -32029  # blocked even with the right code
    clock.advance(901)
    await ok(d, "payment.redeemvoucher", {"customer": "guesser", "vouchercode": "REAL-CODE-1"})
    out = capsys.readouterr().out
    assert "voucher.redeem_failed" in out and "voucher.rate_limited" in out
    assert "SECRET" not in out and "REAL-CODE-1" not in out
    stored = ""
    for table in ("vouchers", "voucher_redemptions", "entitlements", "subscription_events"):
        stored += repr([dict(r) for r in await d.runtime.db.fetchall(f"SELECT * FROM {table}")])
    assert "rent42" in stored and "REAL-CODE-1" not in stored.upper()
    assert "SECRET" not in stored.upper()
    if not pg.on_postgresql():  # and not in the database files either
        path = Path(d.config.database.removeprefix("sqlite:///"))
        raw = b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))
        assert b"voucher" in raw and b"REAL-CODE-1" not in raw and b"SECRET" not in raw


async def test_concurrent_wrong_codes_are_evaluated_at_most_the_limit(d: Any) -> None:
    await ok(d, "voucher.create", {"code": "RIGHT-CODE-2", "grants": {"product": "rent42"}})
    results = await asyncio.gather(
        *(
            d.call("payment.redeemvoucher", {"customer": "burst", "vouchercode": f"WRONG-{i}"})
            for i in range(60)
        )
    )
    codes = [r["error"]["code"] for r in results]
    assert codes.count(-32020) == 5 and codes.count(-32029) == 55, sorted(codes)
    err = await refused(
        d, "payment.redeemvoucher", {"customer": "burst", "vouchercode": "RIGHT-CODE-2"}
    )
    assert err["code"] == -32029
    # under the limit, a right code among wrong ones still works, and costs no attempt
    mixed = await asyncio.gather(
        *(
            d.call("payment.redeemvoucher", {"customer": "steady", "vouchercode": code})
            for code in ("WRONG-A", "WRONG-B", "RIGHT-CODE-2", "WRONG-C", "WRONG-D")
        )
    )
    assert [r.get("error", {}).get("code") for r in mixed] == [-32020, -32020, None, -32020, -32020]
    await ok(d, "payment.redeemvoucher", {"customer": "steady", "vouchercode": "RIGHT-CODE-2"})
    err = await refused(
        d, "payment.redeemvoucher", {"customer": "steady", "vouchercode": "WRONG-E"}
    )
    assert err["code"] == -32020  # the fifth failure
    err = await refused(
        d, "payment.redeemvoucher", {"customer": "steady", "vouchercode": "RIGHT-CODE-2"}
    )
    assert err["code"] == -32029


async def test_one_customers_typos_never_lock_out_the_shops_other_customers(d: Any) -> None:
    """The private port is the shop's backend: one address for all its customers."""
    await ok(d, "voucher.create", {"code": "RIGHT-CODE-3", "grants": {"product": "rent42"}})
    for i in range(5):
        err = await refused(
            d, "payment.redeemvoucher", {"customer": f"typo{i}", "vouchercode": "RIGTH-CODE-3"}
        )
        assert err["code"] == -32020
    await ok(d, "payment.redeemvoucher", {"customer": "sixth", "vouchercode": "RIGHT-CODE-3"})
    await ok(d, "payment.redeemvoucher", {"customer": "typo0", "vouchercode": "RIGHT-CODE-3"})
    for _ in range(4):
        await refused(d, "payment.redeemvoucher", {"customer": "typo0", "vouchercode": "NOPE-1"})
    err = await refused(
        d, "payment.redeemvoucher", {"customer": "typo0", "vouchercode": "RIGHT-CODE-3"}
    )
    assert err["code"] == -32029 and err["message"].startswith("Too many failed attempts")
    await ok(d, "payment.redeemvoucher", {"customer": "typo1", "vouchercode": "RIGHT-CODE-3"})


async def test_a_single_use_discount_is_taken_by_one_finish_only(d: Any) -> None:
    await ok(
        d,
        "voucher.create",
        {"code": "HALF-ONCE", "grants": {"discount": {"product": "movie42", "percent": "50"}}},
    )
    await ok(d, "payment.redeemvoucher", {"customer": "thrifty", "vouchercode": "HALF-ONCE"})
    movie = {
        "customer": "thrifty",
        "operation": "ownage",
        "item": 42,
        "currency": "EUR",
        "provider": "stripe",
        "amount": 250,
    }
    txs = [(await ok(d, "payment.preparetransaction", movie))["transactionID"] for _ in range(5)]
    results = await asyncio.gather(
        *(
            d.call("payment.finishtransaction", {"customer": "thrifty", "transactionID": tx})
            for tx in txs
        )
    )
    wins = [r["result"] for r in results if "result" in r]
    losses = [r["error"] for r in results if "error" in r]
    assert len(wins) == 1 and wins[0]["finalPayment"] == 250, results
    assert len(losses) == 4 and {e["code"] for e in losses} == {-32602}, losses
    assert all("catalog price (499 minor units of EUR)" in e["message"] for e in losses)
    assert all("discount" in e["message"] for e in losses)
    used = await d.runtime.db.fetchall("SELECT used_by FROM discounts")
    assert [r["used_by"] for r in used] == [wins[0]["transactionID"]]
    states = await d.runtime.db.fetchall(
        "SELECT state FROM commerce_transactions WHERE customer = 'thrifty'"
    )
    assert sorted(r["state"] for r in states) == ["finished"] + ["prepared"] * 4
    grants = await d.runtime.db.fetchall(
        "SELECT source FROM entitlements WHERE customer = 'thrifty'"
    )
    assert [r["source"] for r in grants] == [f"transaction:{wins[0]['transactionID']}"]


async def test_disabled_voucher_is_refused(d: Any) -> None:
    made = await ok(d, "voucher.create", {"code": "TO-DISABLE", "grants": {"product": "rent42"}})
    assert await d.runtime.media.vouchers.disable(made["id"])
    err = await refused(d, "payment.redeemvoucher", {"customer": "x", "vouchercode": "TO-DISABLE"})
    assert "disabled" in err["message"]

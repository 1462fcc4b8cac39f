"""Balances and purchases from a balance, on a real daemon over loopback HTTP."""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path
from typing import Any

from tests.commerce.setup import check_ledger, commerce, ledger_rows
from tests.harness import running_daemon


async def adjust(d: Any, customer: str, currency: str, amount: str, key: str) -> dict[str, Any]:
    reply: dict[str, Any] = await d.call(
        "balance.adjust",
        {
            "customer": customer,
            "currency": currency,
            "amount": amount,
            "reason": "welcome gift",
            "idempotency_key": key,
        },
    )
    return reply


async def purchase(d: Any, customer: str, token: str, **params: Any) -> dict[str, Any]:
    reply = await d.call(
        "payment.purchase",
        {"customer": customer, "product": "gem_pack", "purchase_token": token, **params},
    )
    assert "result" in reply, reply
    return dict(reply["result"])


async def balance(d: Any, customer: str) -> dict[str, str]:
    reply = await d.call("balance.get", {"customer": customer})
    return {b["currency"]: b["amount"] for b in reply["result"]["balances"]}


async def test_purchase_from_balance_answers_in_the_purchase_endpoint_shape_with_a_receipt(
    tmp_path: Path,
) -> None:
    async with running_daemon(tmp_path, commerce()) as d:
        assert "result" in await adjust(d, "alice", "AUD", "30.00", "gift-alice-1")
        answer = await purchase(d, "alice", "tok-00000001", use_balance=True, currency="AUD")
        assert answer["PaymentSuccess"] is True
        assert answer["PaymentResponse"] == "Success" and answer["ErrorCode"] == ""
        receipt = answer["Receipt"]
        assert receipt["Amount"] == {"Total": "11.00", "Tax": "1.00", "AmountLessTax": "10.00"}
        assert receipt["Company"] == "Example Pty Ltd" and receipt["ABN"] == "51 824 753 556"
        assert receipt["ReceiptNumber"] == "XB-000001"
        assert await balance(d, "alice") == {"AUD": "19.00"}
        check_ledger(tmp_path)


async def test_use_diamonds_pays_the_virtual_price_without_tax(tmp_path: Path) -> None:
    async with running_daemon(tmp_path, commerce()) as d:
        await adjust(d, "bob", "diamonds", "250", "gift-bob-0001")
        async with d.session.post(
            f"{d.rpc_url}/User/Purchase",
            json={
                "customer": "bob",
                "PurchaseToken": "purchase-token-1",
                "Product": {"Token": "gem_pack"},
                "UseDiamonds": True,
            },
        ) as resp:
            assert resp.status == 200
            answer = await resp.json()
        assert answer["PaymentResponse"] == "Success", answer
        # ServiceStack clients read decimals as JSON numbers (exact digits, never a float)
        assert answer["Receipt"]["Amount"] == {"Total": 100, "Tax": 0, "AmountLessTax": 100}
        assert await balance(d, "bob") == {"diamonds": "150"}


async def test_a_replayed_purchase_token_answers_the_same_and_charges_once(tmp_path: Path) -> None:
    async with running_daemon(tmp_path, commerce()) as d:
        await adjust(d, "carol", "AUD", "30.00", "gift-carol-01")
        first = await purchase(d, "carol", "tok-replayed", use_balance=True, currency="AUD")
        again = await purchase(d, "carol", "tok-replayed", use_balance=True, currency="AUD")
        assert again == first
        assert await balance(d, "carol") == {"AUD": "19.00"}
        other = await d.call(
            "payment.purchase",
            {
                "customer": "carol",
                "product": "sword",
                "purchase_token": "tok-replayed",
                "use_balance": True,
            },
        )
        assert other["error"]["code"] == -32009  # conflict: other parameters
        assert await balance(d, "carol") == {"AUD": "19.00"}
        check_ledger(tmp_path)


async def test_insufficient_balance_changes_nothing_and_leaves_no_receipt_gap(
    tmp_path: Path,
) -> None:
    async with running_daemon(tmp_path, commerce()) as d:
        await adjust(d, "dave", "AUD", "12.00", "gift-dave-01")
        assert (await purchase(d, "dave", "tok-dave-0001", use_balance=True, currency="AUD"))[
            "PaymentResponse"
        ] == "Success"
        short = await purchase(d, "dave", "tok-dave-0002", use_balance=True, currency="AUD")
        assert short["PaymentSuccess"] is False
        assert short["PaymentResponse"] == "InsufficientBalance"
        assert short["ErrorCode"] == "E101" and short["Receipt"] is None
        assert await balance(d, "dave") == {"AUD": "1.00"}
        await adjust(d, "dave", "AUD", "20.00", "gift-dave-02")
        ok = await purchase(d, "dave", "tok-dave-0003", use_balance=True, currency="AUD")
        assert ok["Receipt"]["ReceiptNumber"] == "XB-000002"
        check_ledger(tmp_path)


async def test_200_concurrent_purchases_from_a_balance_for_50(tmp_path: Path) -> None:
    async with running_daemon(tmp_path, commerce()) as d:
        await adjust(d, "erin", "AUD", "2.50", "gift-erin-01")  # 50 swords at 0.05

        async def one(i: int) -> dict[str, Any]:
            reply = await d.call(
                "payment.purchase",
                {
                    "customer": "erin",
                    "product": "sword",
                    "purchase_token": f"tok-erin-{i:04d}",
                    "use_balance": True,
                    "currency": "AUD",
                },
            )
            return dict(reply["result"])

        answers = await asyncio.gather(*(one(i) for i in range(200)))
        outcomes = [a["PaymentResponse"] for a in answers]
        assert outcomes.count("Success") == 50
        assert outcomes.count("InsufficientBalance") == 150
        assert await balance(d, "erin") == {"AUD": "0.00"}
        numbers = sorted(a["Receipt"]["ReceiptNumber"] for a in answers if a["Receipt"])
        assert numbers == [f"XB-{n:06d}" for n in range(1, 51)]
        low = ledger_rows(tmp_path, "SELECT MIN(balance_after) FROM ledger_entries")
        assert low == [(0,)]
        check_ledger(tmp_path)


async def test_one_idempotency_key_credited_from_many_tasks_at_once_credits_once(
    tmp_path: Path,
) -> None:
    async with running_daemon(tmp_path, commerce()) as d:
        replies = await asyncio.gather(
            *(adjust(d, "gina", "AUD", "5.00", "gift-gina-once") for _ in range(40))
        )
        assert all("result" in r for r in replies), replies
        assert [r["result"]["replay"] for r in replies].count(False) == 1
        assert len({r["result"]["entry"]["id"] for r in replies}) == 1
        assert await balance(d, "gina") == {"AUD": "5.00"}
        assert ledger_rows(tmp_path, "SELECT COUNT(*) FROM ledger_entries") == [(1,)]
        check_ledger(tmp_path)


async def test_hostile_input_is_refused_and_changes_nothing(tmp_path: Path) -> None:
    async with running_daemon(tmp_path, commerce()) as d:
        await adjust(d, "frank", "AUD", "20.00", "gift-frank-1")
        cases: list[tuple[dict[str, Any], str]] = [
            ({"product": "nothing", "use_balance": True}, "InvalidProduct"),
            ({"product": "gem_pack", "use_balance": True, "currency": "XYZ"}, "InvalidCurrency"),
            ({"product": "gem_pack", "use_balance": True, "currency": "EUR"}, "InvalidCurrency"),
            ({"product": "buying_increase_balance", "use_balance": True}, "InvalidProduct"),
            ({"product": "gem_pack"}, "InvalidRequest"),
            (
                {"product": "gem_pack", "use_balance": True, "use_stored_card": True},
                "InvalidRequest",
            ),
            (
                {"product": "gem_pack", "use_balance": True, "purchase_token": "t" * 256},
                "InvalidRequest",
            ),
            ({"product": "gem_pack", "use_balance": True, "purchase_token": ""}, "InvalidRequest"),
            ({"product": "gem_pack", "use_balance": True, "customer": "a b"}, "InvalidRequest"),
        ]
        for params, expected in cases:
            body = {"customer": "frank", "purchase_token": "tok-frank-001", **params}
            reply = await d.call("payment.purchase", body)
            assert reply["result"]["PaymentResponse"] == expected, (params, reply)
        for amount in ("1e3", "0.001", "99999999999999999", 1.5, "0", "NaN"):
            reply = await adjust(
                d,
                "frank",
                "AUD",
                amount,  # type: ignore[arg-type]
                f"bad-{amount}-key",
            )
            assert reply["error"]["code"] == -32602, (amount, reply)
        reply = await adjust(d, "frank", "AUD", "-25.00", "too-much-debit")
        assert reply["error"]["code"] == -32602
        reply = await adjust(d, "frank", "ABC", "1.00", "bad-currency1")
        assert reply["error"]["code"] == -32602
        assert await balance(d, "frank") == {"AUD": "20.00"}
        assert ledger_rows(tmp_path, "SELECT COUNT(*) FROM issued_receipts") == [(0,)]
        check_ledger(tmp_path)


async def test_history_pages_newest_first_and_adjust_is_idempotent(tmp_path: Path) -> None:
    async with running_daemon(tmp_path, commerce()) as d:
        for i in range(5):
            await adjust(d, "gina", "AUD", f"{i + 1}.00", f"gift-gina-{i:02d}")
        replay = await adjust(d, "gina", "AUD", "1.00", "gift-gina-00")
        assert replay["result"]["replay"] is True
        clash = await adjust(d, "gina", "AUD", "9.00", "gift-gina-00")
        assert clash["error"]["code"] == -32602
        seen: list[str] = []
        cursor = None
        while True:
            page = (
                await d.call("balance.history", {"customer": "gina", "limit": 2, "cursor": cursor})
            )["result"]
            seen += [e["amount"] for e in page["entries"]]
            cursor = page["cursor"]
            if cursor is None:
                break
        assert sorted(seen) == ["1.00", "2.00", "3.00", "4.00", "5.00"]
        assert await balance(d, "gina") == {"AUD": "15.00"}
        actions = (await d.call("balance.getTokenAction", {}))["result"]["actions"]
        assert {
            "name": "gem_pack",
            "type": "one_time",
            "description": None,
            "prices": {"AUD": "11.00", "diamonds": "100"},
        } in actions


async def test_out_of_range_cursors_and_timestamps_are_invalid_params(tmp_path: Path) -> None:
    def cursor(at: str) -> str:
        return base64.urlsafe_b64encode(f"{at}:some-entry".encode()).decode()

    async with running_daemon(tmp_path, commerce()) as d:
        await adjust(d, "ines", "AUD", "1.00", "gift-ines-01")
        for at in (str(2**63), str(10**30), str(-(2**63) - 1), "-1", " 1", "1\n", "1_0"):
            reply = await d.call("balance.history", {"customer": "ines", "cursor": cursor(at)})
            assert reply["error"]["code"] == -32602, (at, reply)
        for bound in ("created_after", "created_before"):
            for value in (2**63, 10**30, -(2**63) - 1):
                reply = await d.call("list_payments", {bound: value})
                assert reply["error"]["code"] == -32602, (bound, value, reply)
        page = await d.call("balance.history", {"customer": "ines", "cursor": cursor("9" * 18)})
        assert [e["amount"] for e in page["result"]["entries"]] == ["1.00"]


async def test_receipts_are_listed_fetched_and_printable(tmp_path: Path) -> None:
    async with running_daemon(tmp_path, commerce()) as d:
        await adjust(d, "hana", "AUD", "11.00", "gift-hana-01")
        answer = await purchase(d, "hana", "tok-hana-0001", use_balance=True, currency="AUD")
        number = answer["Receipt"]["ReceiptNumber"]
        got = (await d.call("receipt.get", {"number": number}))["result"]
        assert got["total"] == "11.00" and got["tax"] == "1.00" and got["kind"] == "receipt"
        listed = (await d.call("receipt.list", {"customer": "hana"}))["result"]["receipts"]
        assert [r["number"] for r in listed] == [number]
        async with d.session.get(answer["Receipt"]["Url"]) as resp:
            assert resp.status == 200
            page = await resp.text()
        assert number in page and "Example Pty Ltd" in page and "11.00" in page
        assert "1.00" in page and "51 824 753 556" in page
        async with d.session.get(f"{d.public_url}/receipts/{'x' * 32}") as resp:
            assert resp.status == 404


async def test_a_balance_purchase_refund_credits_back_with_credit_notes(tmp_path: Path) -> None:
    async with running_daemon(tmp_path, commerce()) as d:
        await adjust(d, "ivan", "AUD", "11.00", "gift-ivan-01")
        number = (await purchase(d, "ivan", "tok-ivan-0001", use_balance=True, currency="AUD"))[
            "Receipt"
        ]["ReceiptNumber"]

        async def refund(key: str, amount: str | None = None) -> dict[str, Any]:
            params: dict[str, Any] = {
                "number": number,
                "reason": "changed mind",
                "idempotency_key": key,
            }
            if amount is not None:
                params["amount"] = amount
            return await d.call("receipt.refund", params)

        part = (await refund("refund-ivan-1", "5.50"))["result"]
        assert part["credit_note"]["total"] == "-5.50" and part["credit_note"]["tax"] == "-0.50"
        assert (await refund("refund-ivan-1", "5.50"))["result"]["replay"] is True
        assert (await refund("refund-ivan-2", "6.00"))["error"]["code"] == -32602  # too much
        rest = (await refund("refund-ivan-3"))["result"]["credit_note"]
        assert (rest["total"], rest["tax"], rest["amount_less_tax"]) == ("-5.50", "-0.50", "-5.00")
        assert rest["original_number"] == number
        assert (await refund("refund-ivan-4"))["error"]["code"] == -32602  # nothing left
        assert await balance(d, "ivan") == {"AUD": "11.00"}
        got = (await d.call("receipt.get", {"number": number}))["result"]
        assert [n["total"] for n in got["credit_notes"]] == ["-5.50", "-5.50"]
        kinds = ledger_rows(tmp_path, "SELECT kind, amount FROM ledger_entries ORDER BY seq")
        assert kinds == [
            ("adjustment", 1100),
            ("purchase", -1100),
            ("refund", 550),
            ("refund", 550),
        ]
        check_ledger(tmp_path)


async def test_order_numbers_are_keys_from_1_to_255_characters(tmp_path: Path) -> None:
    """Shops use order numbers such as "42" as idempotency keys and purchase tokens: 1-255
    characters are accepted (as Stripe does), 0 and 256 are refused with the rule."""
    async with running_daemon(tmp_path, commerce()) as d:
        assert "result" in await adjust(d, "kim", "AUD", "30.00", "4")
        assert (await adjust(d, "kim", "AUD", "30.00", "4"))["result"]["replay"] is True
        assert "result" in await adjust(d, "kim", "AUD", "3.00", "k" * 255)
        for key in ("", "k" * 256):
            reply = await adjust(d, "kim", "AUD", "1.00", key)
            assert reply["error"]["code"] == -32602, reply
            assert (
                reply["error"]["message"] == "Invalid params: idempotency_key: 1-255 characters"
            ), reply
        first = await purchase(d, "kim", "42", use_balance=True, currency="AUD")
        assert first["PaymentResponse"] == "Success", first
        long = await purchase(d, "kim", "p" * 255, use_balance=True, currency="AUD")
        assert long["PaymentResponse"] == "Success", long
        number = first["Receipt"]["ReceiptNumber"]
        reply = await d.call(
            "receipt.refund", {"number": number, "reason": "order 7", "idempotency_key": "7"}
        )
        assert reply["result"]["credit_note"]["total"] == "-11.00", reply
        reply = await d.call(
            "receipt.refund", {"number": number, "reason": "order 7", "idempotency_key": ""}
        )
        assert reply["error"]["message"] == "Invalid params: idempotency_key: 1-255 characters", (
            reply
        )
        assert await balance(d, "kim") == {"AUD": "22.00"}
        check_ledger(tmp_path)

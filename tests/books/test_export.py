"""The books of a populated day on anvil: crypto payments (one overpaid), a crypto top-up
credited to a balance, a purchase from a balance with its receipt and tax, a sweep with its
gas; exported as CSV and as a beancount journal that loads with no error and whose balances
equal funds.summary and the customers' ledger."""

from __future__ import annotations

import asyncio
import csv
import io
import time
from collections import defaultdict
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from beancount import loader
from beancount.core import data

from tests.chain.watching import Watch, units, watching
from tests.commerce.setup import commerce, session
from tests.commerce.test_sessions import public_call
from tests.commerce.test_top_ups import stripe_plugin
from tests.fakes.stripe_server import FakeStripe
from tests.fixtures.chain import DevChain
from tests.harness import running_daemon
from tests.sweep.kit import cli, config_path, mining, paid_payments, sweep_server
from tests.sweep.test_funds import signed_plan

DEPOSITS, TREASURY = "Assets:Crypto:Main:Deposits", "Assets:Crypto:Main:Treasury"
BALANCES = "Liabilities:CustomerBalances"


async def export(w: Watch, start: int, end: int, fmt: str, **extra: Any) -> str:
    reply = await w.d.call("export.journal", {"from": start, "to": end, "format": fmt, **extra})
    assert "result" in reply, reply
    text: str = reply["result"]["text"]
    return text


def journal_totals(path: Path) -> dict[tuple[str, str], Decimal]:
    """Loads the journal with beancount (no error allowed) and sums every account."""
    entries, errors, _ = loader.load_file(str(path))
    assert errors == [], [str(e.message) for e in errors]
    totals: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for entry in entries:
        if isinstance(entry, data.Transaction):
            for p in entry.postings:
                assert p.units is not None and isinstance(p.units.number, Decimal)
                totals[(p.account, p.units.currency)] += p.units.number
    return totals


def csv_rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def csv_sum(rows: list[dict[str, str]], kind: str, asset: str) -> Decimal:
    return sum(
        (Decimal(r["amount"]) for r in rows if r["kind"] == kind and r["asset"] == asset),
        Decimal(0),
    )


async def populated_day(w: Watch, chain: DevChain, tmp_path: Path) -> dict[str, Any]:
    """Everything a shop's day has; returns the ids the assertions look for."""
    paid = await paid_payments(w, 2, "1.5")
    over = await w.pay_request("1")
    await chain.pay_tokens(over["address"], units("1.25"))
    await chain.mine(3)
    await w.until(over["id"], "paid", timeout=60)
    reply = await w.d.call("balance.topUpCrypto", {"customer": "carol", "amount": "2"})
    top_up = reply["result"]
    await chain.pay_tokens(top_up["address"], units("2"))
    await chain.mine(3)
    await w.until(top_up["id"], "paid", timeout=60)
    gift = {
        "customer": "alice",
        "currency": "AUD",
        "amount": "30.00",
        "reason": "welcome gift",
        "idempotency_key": "gift-alice-1",
    }
    assert "result" in await w.d.call("balance.adjust", gift)
    bought = await w.d.call(
        "payment.purchase",
        {
            "customer": "alice",
            "product": "gem_pack",
            "purchase_token": "tok-00000001",
            "use_balance": True,
            "currency": "AUD",
        },
    )
    assert bought["result"]["PaymentSuccess"] is True, bought
    signed = await signed_plan(w, tmp_path)
    async with mining(chain):
        assert (await cli(config_path(w), "sweep", "send", str(signed))).code == 0
    # the last payment of the day starts on a fresh second: the period boundary
    boundary = int(time.time()) + 1
    await asyncio.sleep(boundary - time.time() + 0.05)
    late = await paid_payments(w, 1, "0.5")
    await chain.mine(3)
    await w.synced()
    return {
        "paid": [p["id"] for p in paid],
        "over": over["id"],
        "top_up": top_up["id"],
        "late": late[0]["id"],
        "boundary": boundary,
        "receipt": bought["result"]["Receipt"]["ReceiptNumber"],
    }


async def test_a_populated_day_exports_books_that_balance_against_funds_and_the_ledger(
    tmp_path: Path, chain: DevChain
) -> None:
    start = int(time.time()) - 1
    async with sweep_server(tmp_path, chain, commerce()) as w:
        day = await populated_day(w, chain, tmp_path)
        end = int(time.time()) + 2
        funds = (await w.d.call("funds.summary"))["result"]["assets"]["0xbtc"]
        assert (funds["received"], funds["swept"], funds["unswept"]) == ("6.75", "6.25", "0.5")
        carol = (await w.d.call("balance.get", {"customer": "carol"}))["result"]["balances"]
        alice = (await w.d.call("balance.get", {"customer": "alice"}))["result"]["balances"]
        assert [(b["currency"], b["amount"]) for b in carol] == [("0xbtc", "2.00000000")]
        assert [(b["currency"], b["amount"]) for b in alice] == [("AUD", "19.00")]

        # beancount, through the CLI: loads with no error, balances equal xbtcpay's figures
        journal = tmp_path / "books.beancount"
        result = await cli(
            config_path(w),
            "export",
            "--from",
            str(start),
            "--to",
            str(end),
            "--format",
            "beancount",
            "-o",
            str(journal),
        )
        assert result.code == 0, result
        totals = journal_totals(journal)
        assert totals[(DEPOSITS, "XBTC")] == Decimal(funds["unswept"])
        assert totals[(TREASURY, "XBTC")] == Decimal(funds["swept"])
        assert totals[(DEPOSITS, "XBTC")] + totals[(TREASURY, "XBTC")] == Decimal(funds["received"])
        assert totals[(BALANCES, "XBTC")] == -Decimal("2")
        assert totals[(BALANCES, "AUD")] == -Decimal("19.00")
        assert totals[("Liabilities:Tax:AU", "AUD")] == -Decimal("1.00")
        assert totals[("Expenses:Gas", "ETH")] > 0
        assert totals[("Expenses:Gas", "ETH")] == -totals[("Assets:Crypto:Main:GasWallet", "ETH")]
        # the top-up's receipt and its crypto cancel out; the purchase's receipt is settled
        assert totals[("Assets:Receivable:Crypto", "XBTC")] == 0
        assert totals[("Assets:Receivable:Balance", "AUD")] == 0
        # the private method answers the same journal
        assert await export(w, start, end, "beancount") == journal.read_text()

        # the check is real: a journal missing one posting does not load clean
        lines = journal.read_text().splitlines()
        broken = [ln for ln in lines if not ln.startswith(f"  {TREASURY}")]
        assert len(broken) < len(lines)
        (tmp_path / "broken.beancount").write_text("\n".join(broken) + "\n")
        assert loader.load_file(str(tmp_path / "broken.beancount"))[1] != []

        # CSV: one row per movement; the rows add up to the same figures
        rows = csv_rows(await export(w, start, end, "csv", currency="USD"))
        assert csv_sum(rows, "crypto_payment", "0xbtc") == Decimal(funds["received"])
        assert csv_sum(rows, "sweep", "0xbtc") == Decimal(funds["swept"])
        assert csv_sum(rows, "ledger_entry", "0xbtc") == Decimal("2")
        assert csv_sum(rows, "ledger_entry", "AUD") == Decimal("19.00")
        over = [r for r in rows if r["payment_id"] == day["over"]]
        assert [(r["kind"], r["amount"], r["overpaid"]) for r in over] == [
            ("crypto_payment", "1.25000000", "1")
        ]
        assert all(r["tx_hash"].startswith("0x") for r in over)
        receipt = [r for r in rows if r["receipt_number"] == day["receipt"]]
        assert {r["kind"] for r in receipt} == {"receipt", "ledger_entry"}
        sale = next(r for r in receipt if r["kind"] == "receipt")
        assert (sale["amount"], sale["tax"], sale["tax_country"]) == ("11.00", "1.00", "AU")
        assert (sale["fiat_amount"], sale["fiat_currency"], sale["fiat_source"]) == (
            "11.00",
            "AUD",
            "own",
        )
        top_up = [r["kind"] for r in rows if r["payment_id"] == day["top_up"]]
        assert sorted(top_up) == ["crypto_payment", "ledger_entry", "receipt"]
        sweep = next(r for r in rows if r["kind"] == "sweep")
        gas = next(r for r in rows if r["kind"] == "sweep_gas")
        assert sweep["sweep_id"] == gas["sweep_id"] and sweep["tx_hash"] == gas["tx_hash"]
        assert gas["asset"] == "eth" and Decimal(gas["amount"]) > 0
        # without rates configured, crypto rows have no fiat value (never a guess)
        assert all(r["fiat_amount"] == "" for r in rows if r["kind"] == "crypto_payment")

        # period boundaries: [from, to) splits the day at the last payment
        before = csv_rows(await export(w, start, day["boundary"], "csv"))
        after = csv_rows(await export(w, day["boundary"], end, "csv"))
        assert day["late"] not in {r["payment_id"] for r in before}
        assert [(r["kind"], r["payment_id"]) for r in after] == [("crypto_payment", day["late"])]
        assert len(before) + len(after) == len(rows)


async def test_bad_export_parameters_are_refused_with_a_clear_error(
    tmp_path: Path, chain: DevChain
) -> None:
    async with sweep_server(tmp_path, chain) as w:
        cases = [
            ({"from": "yesterday", "to": 2, "format": "csv"}, "from:"),
            ({"from": 10, "to": 10, "format": "csv"}, "to: must be after from"),
            ({"from": 1, "to": 2, "format": "xls"}, "format: one of csv, beancount"),
            ({"from": 1, "to": 2}, "format: required"),
            ({"from": 1, "to": 2, "format": "csv", "currency": "dollars"}, "currency:"),
            ({"from": 1, "to": 2, "format": "csv", "asset": "0xbtc"}, "unknown parameter"),
            ({"from": True, "to": 2, "format": "csv"}, "from:"),
            ({"from": -5, "to": 2, "format": "csv"}, "from: out of range"),
        ]
        for params, words in cases:
            reply = await w.d.call("export.journal", params)
            assert reply["error"]["code"] == -32602, (params, reply)
            assert words in reply["error"]["message"], (params, reply)
        ok = await w.d.call(
            "export.journal",
            {"from": "2026-01-01", "to": "2026-01-02T00:00:00+00:00", "format": "csv"},
        )
        assert ok["result"]["from"] == "2026-01-01T00:00:00Z"
        assert ok["result"]["to"] == "2026-01-02T00:00:00Z"
        assert ok["result"]["movements"] == 0
        cfg, out = config_path(w), str(tmp_path / "x.csv")
        bad = await cli(cfg, "export", "--from", "soon", "--to", "2", "--format", "csv", "-o", out)
        assert bad.code == 2 and "from:" in bad.line(), bad
        bad = await cli(cfg, "export", "--from", "1", "--to", "2", "--format", "xls", "-o", out)
        assert bad.code == 2 and "invalid choice" in bad.line(), bad
        assert not Path(out).exists()


@pytest.fixture
async def stripe() -> Any:
    fake = FakeStripe()
    await fake.start()
    yield fake
    await fake.stop()


async def test_a_provider_top_up_and_its_partial_refund_export_as_payment_receipt_and_notes(
    tmp_path: Path, stripe: FakeStripe
) -> None:
    start = int(time.time()) - 1
    async with running_daemon(tmp_path, commerce(plugins=stripe_plugin(stripe))) as d:
        reply = await d.call(
            "payment.createStripeCheckoutSession",
            {
                "product": "buying_increase_balance",
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
        assert await stripe.deliver(hook, stripe.refund(session_id, 1000)) == 200
        balance = (await d.call("balance.get", {"customer": "alice"}))["result"]["balances"]
        assert [(b["currency"], b["amount"]) for b in balance] == [("AUD", "15.00")]
        end = int(time.time()) + 2
        params = {"from": start, "to": end}
        rows = csv_rows(
            (await d.call("export.journal", {**params, "format": "csv"}))["result"]["text"]
        )
        kinds = [(r["kind"], r["method"], r["asset"], r["amount"]) for r in rows]
        assert sorted(kinds) == sorted(
            [
                ("provider_payment", "stripe", "AUD", "25.00"),
                ("receipt", "stripe", "AUD", "25.00"),
                ("credit_note", "stripe", "AUD", "-10.00"),
                ("ledger_entry", "", "AUD", "25.00"),
                ("ledger_entry", "", "AUD", "-10.00"),
            ]
        )
        payment = next(r for r in rows if r["kind"] == "provider_payment")["payment_id"]
        assert payment and all(r["payment_id"] == payment for r in rows)
        note = next(r for r in rows if r["kind"] == "credit_note")
        receipt = next(r for r in rows if r["kind"] == "receipt")
        assert note["original_number"] == receipt["receipt_number"]
        journal = tmp_path / "books.beancount"
        reply = await d.call("export.journal", {**params, "format": "beancount"})
        journal.write_text(reply["result"]["text"])
        totals = journal_totals(journal)
        assert totals[(BALANCES, "AUD")] == -Decimal("15.00")
        assert totals[("Assets:Providers:Stripe", "AUD")] == Decimal("25.00")
        assert totals[("Income:Sales", "AUD")] == 0  # a top-up is stored value, not a sale


async def test_the_public_port_never_serves_the_books(tmp_path: Path) -> None:
    async with running_daemon(tmp_path, commerce()) as d:
        params = {"from": 0, "to": int(time.time()) + 1, "format": "csv"}
        status, body = await public_call(d, "export.journal", params, session("alice"))
        assert status == 403 and "text" not in str(body), body
        status, body = await public_call(d, "export.journal", params, None)
        assert status == 401, body
        assert "result" in await d.call("export.journal", params)  # the private port does


async def test_fiat_values_come_from_the_payment_else_the_rate_at_export_time(
    tmp_path: Path, chain: DevChain
) -> None:
    rates = {"rates": {"sources": {"peg": {"type": "fixed", "rates": {"0xbtc/USD": "2.50"}}}}}
    start = int(time.time()) - 1
    async with watching(tmp_path, chain, rates) as w:
        priced = await w.pay_request("1.5", fiat={"amount": "9.99", "currency": "USD"})
        plain = await w.pay_request("0.4")
        await chain.pay_tokens(priced["address"], units("1"))
        await chain.pay_tokens(priced["address"], units("0.5"))
        await chain.pay_tokens(plain["address"], units("0.4"))
        await chain.mine(3)
        await w.until(priced["id"], "paid", timeout=60)
        await w.until(plain["id"], "paid", timeout=60)
        end = int(time.time()) + 2
        text = await export(w, start, end, "csv", currency="usd")
        rows = csv_rows(text)
        values = sorted(
            (r["payment_id"] == priced["id"], r["amount"], r["fiat_amount"], r["fiat_source"])
            for r in rows
        )
        # the payment's own price, shared by what each deposit brought; else the rate now
        assert values == [
            (False, "0.40000000", "1.00", "rate"),
            (True, "0.50000000", "3.33", "payment"),
            (True, "1.00000000", "6.66", "payment"),
        ]
        assert {r["fiat_currency"] for r in rows} == {"USD"}
        out = tmp_path / "day.csv"
        result = await cli(
            config_path(w),
            "export",
            "--from",
            str(start),
            "--to",
            str(end),
            "--format",
            "csv",
            "--currency",
            "USD",
            "-o",
            str(out),
        )
        assert result.code == 0, result
        assert out.read_text() == text

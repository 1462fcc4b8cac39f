"""Refunds in the books: a wallet payout (with its gas) and an external payout of a day
export as CSV rows tied to their payments and as a beancount journal that loads with no
error and whose balances equal funds.summary and the refunds paid."""

from __future__ import annotations

import time
from decimal import Decimal
from pathlib import Path

from tests.books.test_export import csv_rows, export, journal_totals
from tests.fixtures.chain import DevChain
from tests.refunds.kit import (
    create,
    fund,
    paid,
    payout_wallet,
    refund_status,
    refunds_server,
    wallet_payouts,
)

CUSTOMER = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"
DEPOSITS = "Assets:Crypto:Main:Deposits"


async def test_refunds_and_payouts_in_the_books_balance_against_funds(
    tmp_path: Path, chain: DevChain
) -> None:
    key = payout_wallet()
    start = int(time.time()) - 1
    async with refunds_server(tmp_path, chain, wallet_payouts(key)) as w:
        await fund(w, key.address)
        first = await paid(w, "2")
        second = await paid(w, "1")
        partial = await create(
            w,
            payment=first["id"],
            fiat_amount="1.25",
            currency="USD",
            rate="current",
            address=CUSTOMER,
            reason="damaged",
        )  # 0.5 0xBTC at 2.5 USD
        assert "result" in await w.d.call("refund.approve", {"refund": partial["id"]})
        full = await create(w, payment=second["id"], amount="1", address=CUSTOMER, reason="x")
        assert "result" in await w.d.call("refund.approve", {"refund": full["id"]})
        await chain.mine(3)
        paid_partial = await refund_status(w, partial["id"], "confirmed")
        paid_full = await refund_status(w, full["id"], "confirmed")
        end = int(time.time()) + 2
        funds = (await w.d.call("funds.summary"))["result"]["assets"]["0xbtc"]

        rows = csv_rows(await export(w, start, end, "csv", currency="USD"))
        refunds = [r for r in rows if r["kind"] == "refund"]
        assert sorted((r["reference"], r["payment_id"], r["amount"]) for r in refunds) == sorted(
            [
                (partial["id"], first["id"], "-0.50000000"),
                (full["id"], second["id"], "-1.00000000"),
            ]
        )
        by_id = {r["reference"]: r for r in refunds}
        assert (by_id[partial["id"]]["fiat_amount"], by_id[partial["id"]]["fiat_source"]) == (
            "-1.25",
            "refund",
        )
        assert by_id[full["id"]]["tx_hash"] == paid_full["tx_hash"]
        assert by_id[full["id"]]["method"] == "wallet"
        gas = [r for r in rows if r["kind"] == "payout_gas"]
        assert sorted(r["reference"] for r in gas) == sorted([partial["id"], full["id"]])
        assert all(Decimal(r["amount"]) > 0 and r["asset"] == "eth" for r in gas)

        journal = tmp_path / "books.beancount"
        journal.write_text(await export(w, start, end, "beancount", currency="USD"))
        totals = journal_totals(journal)
        commodity = next(c for (a, c) in totals if a == DEPOSITS)
        assert totals[(DEPOSITS, commodity)] == Decimal(funds["received"]) == Decimal(3)
        assert totals[(DEPOSITS, commodity)] == Decimal(funds["unswept"])
        assert totals[("Assets:Crypto:Main:PayoutWallet", commodity)] == Decimal("-1.5")
        assert totals[("Income:Sales", commodity)] == Decimal("-1.5")  # 3 sold, 1.5 given back
        eth = next(c for (a, c) in totals if a == "Expenses:Gas")
        spent = sum(Decimal(r["amount"]) for r in gas)
        assert totals[("Expenses:Gas", eth)] == spent
        assert totals[("Assets:Crypto:Main:PayoutWallet", eth)] == -spent
        assert paid_partial["amount"] == "0.5"

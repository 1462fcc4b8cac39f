"""The pieces of the export without a daemon: commodity names, times, the request."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

import pytest

from xbtcpay.books.accounts import component, postings
from xbtcpay.books.commodities import VALID, commodities, commodity
from xbtcpay.books.csv_text import csv_text
from xbtcpay.books.movements import CREDIT, LEDGER_ENTRY, RECEIPT, Movement
from xbtcpay.books.period import parse_request, parse_time
from xbtcpay.core.errors import InvalidParams


@pytest.mark.parametrize(
    ("name", "mapped"),
    [
        ("0xbtc", "XBTC"),
        ("0xBTC", "XBTC"),
        ("eth", "ETH"),
        ("usdc_base", "USDC_BASE"),
        ("AUD", "AUD"),
        ("diamonds", "DIAMONDS"),
        ("1inch", "X1INCH"),
        ("weird token!", "WEIRD-TOKEN-X"),
        ("x" * 40, "X" * 24),
    ],
)
def test_every_name_maps_to_a_valid_beancount_commodity(name: str, mapped: str) -> None:
    assert commodity(name) == mapped
    assert VALID.match(mapped)


def test_two_names_on_one_commodity_are_refused_not_merged() -> None:
    assert commodities(["0xbtc", "eth"]) == {"0xbtc": "XBTC", "eth": "ETH"}
    with pytest.raises(InvalidParams, match="would share the commodity USDC-BASE"):
        commodities(["usdc-base", "usdc base"])


def test_times_are_unix_seconds_or_iso_8601_in_utc() -> None:
    assert parse_time("from", 1_700_000_000) == 1_700_000_000
    assert parse_time("from", "1700000000") == 1_700_000_000
    assert parse_time("from", "2026-12-07") == 1_796_601_600
    assert parse_time("from", "2026-12-07T01:00:00") == 1_796_605_200
    assert parse_time("from", "2026-12-07T02:00:00+01:00") == 1_796_605_200
    for bad in ("yesterday", "2026-13-01", True, 1.5, None, -1, "2026-12-07 garbage"):
        with pytest.raises(InvalidParams, match="from: "):
            parse_time("from", bad)


def test_the_request_names_the_first_thing_wrong() -> None:
    ok = parse_request({"from": 1, "to": 2, "format": "beancount", "currency": "usd"})
    assert (ok.start, ok.end, ok.format, ok.currency) == (1, 2, "beancount", "USD")
    with pytest.raises(InvalidParams, match="to: must be after from"):
        parse_request({"from": 2, "to": 1, "format": "csv"})
    with pytest.raises(InvalidParams, match="unknown parameter 'asset'"):
        parse_request({"from": 1, "to": 2, "format": "csv", "asset": "x"})


def test_each_movement_balances_and_tax_goes_to_its_country() -> None:
    receipt = Movement(
        1,
        RECEIPT,
        "AUD",
        Decimal("11.00"),
        method="balance:AUD",
        tax=Decimal("1.00"),
        tax_country="AU",
    )
    note = Movement(
        1,
        CREDIT,
        "AUD",
        Decimal("-5.50"),
        method="stripe",
        tax=Decimal("-0.50"),
        tax_country="AU",
    )
    entry = Movement(1, LEDGER_ENTRY, "AUD", Decimal("-11.00"), ledger_kind="purchase")
    for m in (receipt, note, entry):
        assert sum(p.amount for p in postings(m)) == 0
    assert [(p.account, p.amount) for p in postings(receipt)] == [
        ("Assets:Receivable:Balance", Decimal("11.00")),
        ("Income:Sales", Decimal("-10.00")),
        ("Liabilities:Tax:AU", Decimal("-1.00")),
    ]
    assert [(p.account, p.amount) for p in postings(entry)] == [
        ("Liabilities:CustomerBalances", Decimal("11.00")),
        ("Assets:Receivable:Balance", Decimal("-11.00")),
    ]
    assert component("balance:AUD") == "Balance" and component("google-play") == "Google-play"


def test_outside_values_never_run_as_spreadsheet_formulas() -> None:
    hostile = Movement(
        1,
        LEDGER_ENTRY,
        "AUD",
        Decimal("-1.10"),
        customer='=HYPERLINK("http://evil.example")',
        reference="+cmd",
        ledger_kind="purchase",
    )
    [row] = list(csv.DictReader(io.StringIO(csv_text([hostile]))))
    assert row["customer"] == "'" + hostile.customer
    assert row["reference"] == "'+cmd"
    assert row["amount"] == "-1.10"  # amounts are ours, never prefixed

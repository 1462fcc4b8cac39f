"""How each movement becomes balanced postings: the chart of accounts in one place.

Every transaction balances per commodity on its own (no prices, no conversions), so the
journal's balances are exactly xbtcpay's figures in each asset and currency:

- crypto payment received: ``Assets:Crypto:<Chain>:Deposits`` +asset; against
  ``Assets:Receivable:Crypto`` when the payment has a receipt (the receipt books the sale),
  else ``Income:Sales`` (a plain payment: the asset received is the sale);
- provider payment (also a finished media transaction, a subscription renewal):
  ``Assets:Providers:<Plugin>`` +currency; against
  ``Assets:Receivable:<Plugin>`` when it has a receipt, else ``Income:Sales``;
- receipt: ``Assets:Receivable:<Method>`` +total, ``Income:Sales`` -net,
  ``Liabilities:Tax:<Country>`` -tax; a credit note is the same with the signs turned;
- ledger entry: ``Liabilities:CustomerBalances`` -amount against the account of its kind
  (a top-up's receipt booked the sale, its credit moves it into the balance: ``Income:Sales``;
  a purchase from the balance settles the balance receipt: ``Assets:Receivable:Balance``);
- sweep: ``Assets:Crypto:<Chain>:Treasury`` +asset, ``...:Deposits`` -asset; its gas:
  ``Expenses:Gas`` +ETH, ``Assets:Crypto:<Chain>:GasWallet`` -ETH;
- refund (a confirmed crypto refund): the asset leaves ``Assets:Crypto:<Chain>:PayoutWallet``
  (``payouts.method: wallet``) or ``Assets:Crypto:<Chain>:Treasury`` (``external``: the
  merchant's own wallet); against ``Assets:Receivable:Crypto`` when the payment has a
  receipt (its credit note reverses the sale), ``Liabilities:StrayDeposits`` for a stray
  deposit given back, else ``Income:Sales``; a wallet payout's gas: ``Expenses:Gas`` +ETH,
  ``...:PayoutWallet`` -ETH. (What the merchant moves into the payout wallet is not seen
  by xbtcpay: book those transfers from the treasury by hand, as for the gas wallet.)
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal

from xbtcpay.books.movements import (
    CREDIT,
    CRYPTO_PAYMENT,
    LEDGER_ENTRY,
    MEDIA_TRANSACTION,
    PAYOUT_GAS,
    PROVIDER_PAYMENT,
    RECEIPT,
    REFUND,
    SUBSCRIPTION_PAYMENT,
    SWEEP,
    SWEEP_GAS,
    Movement,
)

SALES = "Income:Sales"
CUSTOMER_BALANCES = "Liabilities:CustomerBalances"
GAS = "Expenses:Gas"
# The counter account of a ledger entry, by its kind (what caused the balance to move).
LEDGER_COUNTER = {
    "top_up": SALES,
    "reversal": SALES,
    "purchase": "Assets:Receivable:Balance",
    "refund": "Assets:Receivable:Balance",
    "grant": "Expenses:Grants",
    "adjustment": "Equity:Adjustments",
}


@dataclass(frozen=True)
class Posting:
    account: str
    amount: Decimal
    asset: str  # xbtcpay's name; the writer maps it to a commodity


def component(text: str) -> str:
    """One account name component: ``stripe`` -> ``Stripe``, ``balance:AUD`` -> ``Balance``."""
    head = text.split(":", 1)[0]
    clean = re.sub(r"[^A-Za-z0-9-]", "-", head).strip("-") or "Unknown"
    clean = clean[0].upper() + clean[1:]
    return clean if clean[0].isalnum() else "X" + clean


def crypto(chain: str, purse: str) -> str:
    return f"Assets:Crypto:{component(chain)}:{purse}"


def receivable(method: str) -> str:
    return f"Assets:Receivable:{component(method)}"


def postings(m: Movement) -> list[Posting]:
    """The balanced postings of one movement (none for a zero amount)."""
    if m.amount == 0:
        return []
    a = m.amount
    if m.kind == CRYPTO_PAYMENT:
        counter = receivable("crypto") if m.has_receipt else SALES
        return [Posting(crypto(m.chain, "Deposits"), a, m.asset), Posting(counter, -a, m.asset)]
    if m.kind in (PROVIDER_PAYMENT, MEDIA_TRANSACTION, SUBSCRIPTION_PAYMENT):
        counter = receivable(m.method) if m.has_receipt else SALES
        return [
            Posting(f"Assets:Providers:{component(m.method)}", a, m.asset),
            Posting(counter, -a, m.asset),
        ]
    if m.kind in (RECEIPT, CREDIT):
        tax = m.tax or Decimal(0)
        out = [Posting(receivable(m.method), a, m.asset), Posting(SALES, -(a - tax), m.asset)]
        if tax:
            country = component(m.tax_country or "Unknown")
            out.append(Posting(f"Liabilities:Tax:{country}", -tax, m.asset))
        return [p for p in out if p.amount]
    if m.kind == LEDGER_ENTRY:
        counter = LEDGER_COUNTER.get(m.ledger_kind, "Equity:Adjustments")
        return [Posting(CUSTOMER_BALANCES, -a, m.asset), Posting(counter, a, m.asset)]
    if m.kind == SWEEP:
        return [
            Posting(crypto(m.chain, "Treasury"), a, m.asset),
            Posting(crypto(m.chain, "Deposits"), -a, m.asset),
        ]
    if m.kind == SWEEP_GAS:
        return [Posting(GAS, a, m.asset), Posting(crypto(m.chain, "GasWallet"), -a, m.asset)]
    if m.kind == REFUND:
        purse = crypto(m.chain, "PayoutWallet" if m.method == "wallet" else "Treasury")
        if m.stray:
            counter = "Liabilities:StrayDeposits"
        else:
            counter = receivable("crypto") if m.has_receipt else SALES
        return [Posting(purse, a, m.asset), Posting(counter, -a, m.asset)]
    if m.kind == PAYOUT_GAS:
        return [Posting(GAS, a, m.asset), Posting(crypto(m.chain, "PayoutWallet"), -a, m.asset)]
    raise ValueError(f"no accounts for movement kind {m.kind!r}")

"""Renewing invoices' quotes when their lock runs out with nothing paid.

A quote holds for ``pricing.lock`` seconds. An invoice still unfunded when it ends gets a
new quote at the current rates (``pricing.on_expiry: requote``), up to the payment's own
expiry; the earlier quotes stay in its history. With ``on_expiry: expire`` the payment
itself ends with its quote (its expiry is set to the lock when it is created), so there is
nothing to do here.

An invoice with any funds recorded, counted or stray, on any chain, is never requoted: the
chain watcher settles it at the quote its customer was shown. Runs on the leader only.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import structlog

from xbtcpay.core.amounts import to_decimal
from xbtcpay.core.errors import RpcError
from xbtcpay.core.invoices import (
    INVOICE,
    FiatPrice,
    Invoicing,
    current_quote,
    invoice_of,
    option_amount,
)
from xbtcpay.core.models import Payment
from xbtcpay.core.processor import PaymentProcessor
from xbtcpay.core.state import State
from xbtcpay.storage.chain_store import ChainStore
from xbtcpay.storage.payments import PaymentStore

log = structlog.get_logger("xbtcpay.pricing")
INTERVAL = 2.0  # seconds between the leader's looks for quotes that ran out
PAGE = 1000


class Requoter:
    def __init__(
        self,
        invoicing: Invoicing,
        processor: PaymentProcessor,
        payments: PaymentStore,
        funds: ChainStore,
    ) -> None:
        self.invoicing = invoicing
        self.processor = processor
        self.payments = payments
        self.funds = funds

    async def run(self) -> None:
        """The leader's job: every unfunded open invoice whose quote ran out is requoted."""
        now, after = self.processor.now(), ""
        while True:
            page = await self.payments.invoices_due(now, after, PAGE)
            due = [p for p in page if _ran_out(p, now)]
            funded = await self.funds.funded([p.id for p in due]) if due else set()
            for payment in due:
                if payment.id not in funded:
                    await self.requote(payment, now)
            if len(page) < PAGE:
                return
            after = page[-1].id

    async def requote(self, payment: Payment, now: int) -> Payment | None:
        """A new quote for ``payment`` at the current rates; None when it cannot have one
        now (no reliable rate: tried again on the next run) or no longer needs one."""
        invoice = invoice_of(payment)
        assert invoice is not None
        assets = invoice.get("assets")
        ask = FiatPrice(
            to_decimal(str(invoice["price"])),
            str(invoice["currency"]),
            None if assets is None else tuple(assets),
        )
        ends = now + self.invoicing.config.lock
        if payment.expires_at is not None:
            ends = min(ends, payment.expires_at)
        try:
            quote = await self.invoicing.quote(ask, now, ends)
        except RpcError as exc:
            log.warning("invoice.requote_refused", payment_id=payment.id, reason=exc.message)
            return None
        first = quote["options"][0]

        def revision(current: Payment) -> Mapping[str, Any] | None:
            latest = invoice_of(current)
            if current.status != State.NEW or latest is None or latest.get("picked"):
                return None
            if current_quote(latest)["expires_at"] > now:
                return None  # renewed meanwhile
            quotes = [*latest["quotes"], quote]
            return {
                "asset": first["asset"],
                "amount": option_amount(first),
                "extra": {**current.extra, INVOICE: {**latest, "quotes": quotes}},
            }

        return await self.processor.revise(payment.id, "requoted", revision, "pricing")


def _ran_out(p: Payment, now: int) -> bool:
    invoice = invoice_of(p)
    if invoice is None or invoice.get("picked") or invoice.get("on_expiry") != "requote":
        return False
    return bool(current_quote(invoice)["expires_at"] <= now)

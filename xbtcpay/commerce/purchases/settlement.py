"""What a payment transition means for the commerce layer, written in the transition's own
unit of work (``PaymentProcessor.transaction_hooks``), so it commits with it or not at all:

- a catalog product's payment becoming ``paid`` gets its receipt; a ``top_up`` product also
  credits the customer's balance (idempotency key ``top_up:<payment id>``: exactly once);
- ``refunded`` / ``partially_refunded`` / ``charged_back`` write a reversal of the credit
  (the balance may go negative: reported, never hidden) and a credit note for the receipt.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from decimal import ROUND_FLOOR, Decimal, localcontext
from typing import Any

import structlog

from xbtcpay.commerce.currencies import Currencies, Currency
from xbtcpay.commerce.purchases import ledger, receipts
from xbtcpay.commerce.settings import CommerceConfig
from xbtcpay.commerce.taxes import split
from xbtcpay.core.amounts import to_decimal
from xbtcpay.core.catalog import Catalog
from xbtcpay.core.invoices import invoice_of
from xbtcpay.core.models import CRYPTO, Payment
from xbtcpay.core.persistence import UnitOfWork
from xbtcpay.core.settings import AssetConfig
from xbtcpay.core.state import PAID_STATES, State

log = structlog.get_logger("xbtcpay.commerce")
REVERSING = (State.REFUNDED, State.PARTIALLY_REFUNDED, State.CHARGED_BACK)


class Settlement:
    """The transaction hook: receipts, credits and reversals of catalog payments."""

    def __init__(
        self,
        config: CommerceConfig,
        catalog: Catalog,
        currencies: Currencies,
        assets: Mapping[str, AssetConfig],
    ) -> None:
        self.config = config
        self.catalog = catalog
        self.currencies = currencies
        self.assets = assets

    def currency_of(self, payment: Payment) -> Currency | None:
        """Fiat and virtual currencies from the table; a crypto asset is its own currency,
        except in an invoice priced in fiat: that is sold in its price's currency."""
        invoice = invoice_of(payment)
        if invoice is not None:
            return self.currencies.get(str(invoice["currency"]))
        if payment.method == CRYPTO:
            asset = self.assets.get(payment.asset)
            return Currency(payment.asset, asset.decimals, virtual=True) if asset else None
        return self.currencies.get(payment.asset)

    async def __call__(
        self, uow: UnitOfWork, before: Payment | None, after: Payment, event: str
    ) -> None:
        spec = self.catalog.get(after.product) if after.product else None
        currency = self.currency_of(after) if spec is not None else None
        if before is None or spec is None or currency is None:
            return
        before, after = _in_fiat(before, currency), _in_fiat(after, currency)
        if before.status not in PAID_STATES and after.status == State.PAID:
            await self._paid(uow, after, spec, currency)
        elif after.status in REVERSING and (
            before.status != after.status or before.amount_refunded != after.amount_refunded
        ):
            await self._reversed(uow, after, spec, currency)

    async def _paid(
        self, uow: UnitOfWork, p: Payment, spec: Mapping[str, Any], currency: Currency
    ) -> None:
        units = currency.to_minor(p.amount)
        top_up = spec.get("type") == "top_up"
        existing = await receipts.for_payment(uow, p.id)
        receipt = (
            existing[0]
            if existing
            else await receipts.issue(uow, self._draft(p, spec, currency, units, top_up))
        )
        if top_up and p.customer:
            entry, created = await ledger.append(
                uow,
                ledger.Posting(
                    p.customer,
                    currency.code,
                    units,
                    ledger.Kind.TOP_UP,
                    f"top_up:{p.id}",
                    p.paid_at or p.updated_at,
                    payment_id=p.id,
                    receipt_number=receipt.number,
                ),
            )
            if created:
                log.info(
                    "ledger.top_up",
                    customer=p.customer,
                    currency=currency.code,
                    amount=units,
                    payment_id=p.id,
                    balance=entry.balance_after,
                )

    def _draft(
        self, p: Payment, spec: Mapping[str, Any], currency: Currency, units: int, top_up: bool
    ) -> receipts.Draft:
        company = self.config.company(spec.get("company"))
        country = (
            p.extra.get("tax_country") if isinstance(p.extra.get("tax_country"), str) else None
        )
        # a top-up sells stored value: tax is charged when the balance is spent
        rate = None if top_up else receipts.tax_rate_for(self.config, company, currency, country)
        line = receipts.Line(p.product or "", str(spec.get("description", p.product)), 1, units)
        return receipts.Draft(
            company=company,
            kind=receipts.RECEIPT,
            currency=currency,
            amounts=split(units, rate),
            lines=(line,),
            method=p.method,
            issued_at=p.updated_at,
            tax_country=rate.country if rate else None,
            customer=p.customer,
            payment_id=p.id,
            purchase_token=_text(p.extra.get("purchase_token")),
            card_brand=_text(p.extra.get("card_brand")),
            card_last4=_text(p.extra.get("card_last4")),
            paid_at=p.paid_at,
        )

    async def _reversed(
        self, uow: UnitOfWork, p: Payment, spec: Mapping[str, Any], currency: Currency
    ) -> None:
        full = currency.to_minor(p.amount)
        target = (
            full
            if p.status != State.PARTIALLY_REFUNDED
            else min(full, currency.to_minor(p.amount_refunded))
        )
        if spec.get("type") == "top_up" and p.customer:
            credited = await ledger.sum_for_payment(uow, p.id, ledger.Kind.TOP_UP)
            reversed_ = -await ledger.sum_for_payment(uow, p.id, ledger.Kind.REVERSAL)
            delta = min(target, credited) - reversed_
            if delta > 0:
                entry, _ = await ledger.append(
                    uow,
                    ledger.Posting(
                        p.customer,
                        currency.code,
                        -delta,
                        ledger.Kind.REVERSAL,
                        f"reversal:{p.id}:{p.version}",
                        p.updated_at,
                        payment_id=p.id,
                        reason=p.status.value,
                    ),
                )
                log.warning(
                    "ledger.reversal",
                    customer=p.customer,
                    currency=currency.code,
                    amount=-delta,
                    payment_id=p.id,
                    balance=entry.balance_after,
                )
        await self._credit_note(uow, p, currency, target)

    async def _credit_note(
        self, uow: UnitOfWork, p: Payment, currency: Currency, target: int
    ) -> None:
        originals = await receipts.for_payment(uow, p.id)
        if not originals:
            return
        original = originals[0]
        notes = await receipts.credit_notes(uow, original.number)
        delta = min(target, original.total) + sum(n.total for n in notes)
        if delta <= 0:
            return
        amounts = receipts.credit_amounts(original, notes, delta)
        company = self.config.company(original.company)
        line = receipts.Line(
            original.lines[0].product if original.lines else "",
            f"refund of {original.number}",
            1,
            -delta,
        )
        note = await receipts.issue(
            uow,
            receipts.Draft(
                company=company,
                kind=receipts.CREDIT_NOTE,
                currency=currency,
                amounts=amounts,
                lines=(line,),
                method=p.method,
                issued_at=p.updated_at,
                tax_country=original.tax_country,
                customer=p.customer,
                payment_id=p.id,
                original_number=original.number,
                card_brand=original.card_brand,
                card_last4=original.card_last4,
            ),
        )
        log.info(
            "receipt.credit_note",
            number=note.number,
            original=original.number,
            total=note.total,
            payment_id=p.id,
        )


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _in_fiat(p: Payment, currency: Currency) -> Payment:
    """An invoice priced in fiat as its receipt sees it: the price, and what was refunded
    as the same share of the price as of the crypto amount (rounded down)."""
    invoice = invoice_of(p)
    if invoice is None:
        return p
    price = to_decimal(str(invoice["price"]))
    refunded = Decimal(0)
    if p.amount_refunded and p.amount:
        with localcontext() as ctx:
            ctx.prec = 80
            share = price * p.amount_refunded / p.amount
            refunded = min(
                price, share.quantize(Decimal(1).scaleb(-currency.decimals), ROUND_FLOOR)
            )
    return replace(p, amount=price, amount_refunded=refunded)

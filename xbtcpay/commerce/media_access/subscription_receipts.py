"""Receipts for money taken outside a processor payment: finished media access transactions,
upgrades and provider renewals reported by a plugin (a renewal that arrives as a payment,
App Store or Braintree, gets its receipt from the commerce settlement instead).

Issued in the caller's unit of work with the commerce layer's gapless numbers, so a receipt
exists exactly when the payment row it belongs to does.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from xbtcpay.commerce.currencies import Currencies
from xbtcpay.commerce.purchases import receipts
from xbtcpay.commerce.settings import CommerceConfig
from xbtcpay.commerce.taxes import split
from xbtcpay.core.persistence import UnitOfWork


class ReceiptIssuer:
    def __init__(
        self,
        config: CommerceConfig,
        products: Mapping[str, Mapping[str, Any]],
        currencies: Currencies,
    ) -> None:
        self.config = config
        self.products = products
        self.currencies = currencies

    async def issue(
        self,
        conn: UnitOfWork,
        *,
        customer: str,
        product: str | None,
        provider: str,
        units: int,
        currency_code: str,
        at: int,
        top_up: bool = False,
    ) -> str | None:
        """The receipt's number, or None when there is nothing to receipt (no money, an
        unknown currency)."""
        currency = self.currencies.get(currency_code)
        if currency is None or units <= 0:
            return None
        spec = self.products.get(product or "") or {}
        company = self.config.company(spec.get("company"))
        # a deposit sells stored value: tax is charged when the balance is spent
        rate = None if top_up else receipts.tax_rate_for(self.config, company, currency, None)
        name = product or "deposit"
        line = receipts.Line(name, str(spec.get("description", name)), 1, units)
        receipt = await receipts.issue(
            conn,
            receipts.Draft(
                company=company,
                kind=receipts.RECEIPT,
                currency=currency,
                amounts=split(units, rate),
                lines=(line,),
                method=provider,
                issued_at=at,
                tax_country=rate.country if rate else None,
                customer=customer,
                paid_at=at,
            ),
        )
        return receipt.number

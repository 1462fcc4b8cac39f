"""The commerce methods, on every transport: balance.*, payment.purchase, receipt.*.

On the private port the shop names ``customer``; on the public port the session's customer
is filled in (``xbtcpay.web.policy``) and ``call.customer`` is set, so a session
sees only its own balances and receipts. ``balance.adjust`` is private-port only.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import structlog

from xbtcpay.commerce.currencies import Currencies, Currency, parse_minor
from xbtcpay.commerce.errors import Forbidden, InsufficientBalance
from xbtcpay.commerce.purchases import ledger, receipts
from xbtcpay.commerce.purchases.purchase import Purchases
from xbtcpay.commerce.purchases.refunds import Refunds
from xbtcpay.commerce.purchases.requests import (
    IDEMPOTENCY_KEY_RULE,
    from_params,
    valid_idempotency_key,
)
from xbtcpay.commerce.purchases.responses import PurchaseRefused, answer
from xbtcpay.commerce.sessions import valid_customer
from xbtcpay.core.catalog import Catalog
from xbtcpay.core.errors import ConstraintViolation, InvalidParams, NotFound
from xbtcpay.core.models import CRYPTO, NewPayment
from xbtcpay.core.persistence import Engine, UnitOfWork
from xbtcpay.core.processor import PaymentProcessor
from xbtcpay.core.registry import MethodRegistry
from xbtcpay.plugin_api import CallContext

log = structlog.get_logger("xbtcpay.commerce")
ADJUST_KINDS = (ledger.Kind.ADJUSTMENT.value, ledger.Kind.GRANT.value)


class CommerceMethods:
    def __init__(
        self,
        db: Engine,
        catalog: Catalog,
        currencies: Currencies,
        purchases: Purchases,
        processor: PaymentProcessor,
        crypto_currencies: Mapping[str, Currency],
        receipt_url: Callable[[str], str],
        default_asset: str,
    ) -> None:
        self.db = db
        self.catalog = catalog
        self.currencies = currencies
        self.purchases = purchases
        self.processor = processor
        self.crypto = crypto_currencies  # one per configured asset
        self.default_asset = default_asset
        self.ledger = ledger.LedgerReader(db)
        self.receipts = receipts.ReceiptReader(db)
        self.receipt_url = receipt_url
        self.refunds: Refunds | None = None

    def register(self, registry: MethodRegistry) -> None:
        registry.add("balance.get", self.balance_get)
        registry.add("balance.history", self.balance_history)
        registry.add("balance.adjust", self.balance_adjust)
        registry.add("balance.getTokenAction", self.token_actions)
        registry.add("balance.topUpCrypto", self.top_up_crypto)
        registry.add("payment.purchase", self.purchase)
        registry.add("receipt.get", self.receipt_get)
        registry.add("receipt.list", self.receipt_list)
        registry.add("receipt.refund", self.receipt_refund)

    def currency(self, code: str) -> Currency | None:
        return self.currencies.get(code) or self.crypto.get(code)

    def fmt(self, code: str, units: int) -> str:
        found = self.currency(code)
        return found.format(units) if found else str(units)

    async def balance_get(self, params: Mapping[str, Any], call: CallContext) -> dict[str, Any]:
        """``{customer}`` -> balances per currency (negative ones flagged, never hidden)."""
        customer = _customer(params)
        rows = await self.ledger.balances(customer)
        return {
            "customer": customer,
            "balances": [
                {
                    "currency": code,
                    "amount": self.fmt(code, units),
                    "amount_minor": units,
                    "negative": units < 0,
                }
                for code, units in rows.items()
            ],
        }

    async def balance_history(self, params: Mapping[str, Any], call: CallContext) -> dict[str, Any]:
        """``{customer, currency?, limit?, cursor?}`` -> entries newest first (from a session,
        without the shop's idempotency keys)."""
        customer = _customer(params)
        currency = params.get("currency")
        if currency is not None:
            found = self.currency(currency) if isinstance(currency, str) else None
            if found is None:
                raise InvalidParams("unknown currency")
            currency = found.code
        limit = params.get("limit", 50)
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 500:
            raise InvalidParams("limit must be an integer between 1 and 500")
        cursor = params.get("cursor")
        if cursor is not None and (not isinstance(cursor, str) or len(cursor) > 200):
            raise InvalidParams("invalid cursor")
        try:
            entries, after = await self.ledger.history(customer, currency, limit, cursor)
        except ValueError as exc:
            raise InvalidParams(str(exc)) from None
        fmt = {e.currency: self.currency(e.currency) for e in entries}
        return {
            "customer": customer,
            "cursor": after,
            "entries": [
                ledger.describe(
                    e,
                    {k: v.format for k, v in fmt.items() if v},
                    with_key=call.customer is None,
                )
                for e in entries
            ],
        }

    async def balance_adjust(self, params: Mapping[str, Any], call: CallContext) -> dict[str, Any]:
        """Private port only: ``{customer, currency, amount, reason, idempotency_key,
        kind?: adjustment|grant, allow_negative?}``; a debit never goes below zero unless
        ``allow_negative``."""
        if call.customer is not None:
            raise Forbidden("balance.adjust is for the shop's backend")
        customer = _customer(params)
        currency = self.currency(params.get("currency") or "")
        if currency is None:
            raise InvalidParams("unknown currency")
        try:
            units = parse_minor(currency, params.get("amount"), allow_negative=True)
        except ValueError as exc:
            raise InvalidParams(f"amount: {exc}") from None
        reason, key = params.get("reason"), params.get("idempotency_key")
        kind = params.get("kind", "adjustment")
        if not isinstance(reason, str) or not 0 < len(reason) <= 500:
            raise InvalidParams("reason: 1-500 characters")
        if not valid_idempotency_key(key):
            raise InvalidParams(IDEMPOTENCY_KEY_RULE)
        if kind not in ADJUST_KINDS:
            raise InvalidParams(f"kind: one of {', '.join(ADJUST_KINDS)}")
        floor = None if params.get("allow_negative") is True else 0
        posting = ledger.Posting(
            customer,
            currency.code,
            units,
            ledger.Kind(kind),
            f"adjust:{key}",
            self.processor.now(),
            reason=reason,
            floor=floor if units < 0 else None,
        )

        async def work(uow: UnitOfWork) -> tuple[ledger.Entry, bool]:
            return await ledger.append(uow, posting)

        try:
            try:
                entry, created = await self.db.transact(work)
            except ConstraintViolation:
                # the same key written at once by another connection (replica): it is
                # committed now, so the unit again finds it and answers the replay
                entry, created = await self.db.transact(work)
        except InsufficientBalance as exc:
            raise InvalidParams(f"{exc.detail}: the adjustment would make it negative") from None
        if not created and (entry.customer, entry.currency, entry.amount) != (
            customer,
            currency.code,
            units,
        ):
            raise InvalidParams("idempotency_key already used for another adjustment")
        log.info(
            "ledger.adjusted",
            customer=customer,
            currency=currency.code,
            amount=units,
            kind=kind,
            entry_id=entry.id,
            replay=not created,
        )
        return {
            "entry": ledger.describe(entry, {currency.code: currency.format}),
            "replay": not created,
        }

    async def token_actions(self, params: Mapping[str, Any], call: CallContext) -> dict[str, Any]:
        """The app payment API's balance:getTokenAction (Valuverse): the catalog's buyable products and prices."""
        actions = []
        for name, spec in self.catalog.products.items():
            item: dict[str, Any] = {
                "name": name,
                "type": spec.get("type"),
                "description": spec.get("description"),
            }
            if spec.get("type") == "top_up":
                item.update(currency=spec.get("currency"), min=spec.get("min"), max=spec.get("max"))
            else:
                item["prices"] = dict(spec.get("prices") or {})
            actions.append(item)
        return {"actions": actions}

    async def top_up_crypto(self, params: Mapping[str, Any], call: CallContext) -> dict[str, Any]:
        """``{customer, amount, asset?, product?}``: a crypto payment that, once paid, credits
        the customer's balance in the asset's own unit."""
        customer = _customer(params)
        product = params.get("product", "buying_increase_balance")
        spec = self.catalog.get(product) if isinstance(product, str) else None
        if spec is None or spec.get("type") != "top_up":
            raise InvalidParams("product: a top_up product of the catalog")
        asset = params.get("asset", self.default_asset)
        if not isinstance(asset, str) or asset not in self.crypto:
            raise InvalidParams("unknown asset")
        currency = self.crypto[asset]
        try:
            units = parse_minor(currency, params.get("amount"))
        except ValueError as exc:
            raise InvalidParams(f"amount: {exc}") from None
        payment = await self.processor.create(
            NewPayment(
                method=CRYPTO,
                asset=asset,
                amount=currency.from_minor(units),
                product=product,
                customer=customer,
            )
        )
        return {
            "id": payment.id,
            "address": payment.address,
            "asset": asset,
            "amount": currency.format(units),
            "expires_at": payment.expires_at,
        }

    async def purchase(self, params: Mapping[str, Any], call: CallContext) -> dict[str, Any]:
        """The purchase endpoint's purchase; see ``xbtcpay.commerce.purchases.purchase``."""
        try:
            return await self.purchases.purchase(from_params(params))
        except PurchaseRefused as refused:
            return answer(refused.response, refused.message)

    async def receipt_get(self, params: Mapping[str, Any], call: CallContext) -> dict[str, Any]:
        number = params.get("number")
        if not isinstance(number, str) or not 0 < len(number) <= 64:
            raise InvalidParams("number: a receipt number")
        found = await self.receipts.get(number)
        if found is None or (call.customer is not None and found.customer != call.customer):
            raise NotFound("unknown receipt")
        notes = await self.receipts.credit_notes_of(found.number)
        return {**self.describe(found), "credit_notes": [self.describe(n) for n in notes]}

    async def receipt_list(self, params: Mapping[str, Any], call: CallContext) -> dict[str, Any]:
        customer = _customer(params)
        limit, offset = params.get("limit", 50), params.get("offset", 0)
        for key, value, high in (("limit", limit, 500), ("offset", offset, 10**9)):
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= high:
                raise InvalidParams(f"{key} must be an integer between 0 and {high}")
        rows = await self.receipts.of_customer(customer, limit, offset)
        return {"customer": customer, "receipts": [self.describe(r) for r in rows]}

    async def receipt_refund(self, params: Mapping[str, Any], call: CallContext) -> dict[str, Any]:
        """Private port only: ``{number, amount?, reason, idempotency_key}`` refunds a
        purchase paid from a balance (all that is left when ``amount`` is absent)."""
        if call.customer is not None or self.refunds is None:
            raise Forbidden("receipt.refund is for the shop's backend")
        number, reason, key = (
            params.get("number"),
            params.get("reason"),
            params.get("idempotency_key"),
        )
        if not isinstance(number, str) or not 0 < len(number) <= 64:
            raise InvalidParams("number: a receipt number")
        if not isinstance(reason, str) or not 0 < len(reason) <= 500:
            raise InvalidParams("reason: 1-500 characters")
        if not valid_idempotency_key(key):
            raise InvalidParams(IDEMPOTENCY_KEY_RULE)
        note, entry, created = await self.refunds.refund(number, params.get("amount"), reason, key)
        log.info(
            "receipt.refunded",
            number=number,
            credit_note=note.number,
            amount=entry.amount,
            replay=not created,
        )
        fmt = self.currency(entry.currency)
        return {
            "credit_note": self.describe(note),
            "replay": not created,
            "entry": ledger.describe(entry, {entry.currency: fmt.format} if fmt else {}),
        }

    def describe(self, r: receipts.Receipt) -> dict[str, Any]:
        currency = self.currency(r.currency) or Currency(r.currency, 0)
        return receipts.describe(r, currency, self.receipt_url(r.view_token))


def _customer(params: Mapping[str, Any]) -> str:
    value = params.get("customer")
    if not valid_customer(value):
        raise InvalidParams("customer: 1-128 printable characters")
    assert isinstance(value, str)
    return value

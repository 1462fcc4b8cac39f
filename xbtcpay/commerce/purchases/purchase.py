"""``payment.purchase``: buy a catalog product from the balance, a stored card, a wallet
token or a fresh nonce, answered in the purchase endpoint's shape (RedHotPie's ``POST /User/Purchase``).

The purchase token is the idempotency key (per customer): the same token answers the same
and never charges twice; with other parameters it is a conflict. From the balance, the debit,
the receipt and the recorded answer are one unit of work. Through a provider, a ``pending``
row binds the token before the charge; the payment becoming ``paid`` issues the receipt
(``Settlement``) and records the answer in that same transition's unit of work.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import structlog

from xbtcpay.commerce.currencies import Currencies, Currency, parse_minor
from xbtcpay.commerce.errors import InsufficientBalance
from xbtcpay.commerce.purchases import ledger, receipts
from xbtcpay.commerce.purchases.requests import PurchaseRequest
from xbtcpay.commerce.purchases.responses import (
    RESPONSES,
    PaymentResponse,
    PurchaseRefused,
    answer,
)
from xbtcpay.commerce.settings import CommerceConfig
from xbtcpay.commerce.taxes import split
from xbtcpay.core.catalog import Catalog
from xbtcpay.core.errors import Conflict, ConstraintViolation, ProviderError
from xbtcpay.core.models import NewPayment, Payment, PaymentEvent
from xbtcpay.core.persistence import Engine, UnitOfWork
from xbtcpay.core.processor import PaymentProcessor
from xbtcpay.core.state import Event
from xbtcpay.plugin_api.charging import Charger, ChargeRequest, ChargeResult
from xbtcpay.storage import payments

log = structlog.get_logger("xbtcpay.purchase")
R = PaymentResponse
PENDING_MESSAGE = "the provider has not confirmed this purchase yet; ask again with the same token"


@dataclass(frozen=True)
class Priced:
    currency: Currency
    units: int


class Purchases:
    """Runs purchases; ``chargers`` are the provider plugins that can charge off-session."""

    def __init__(
        self,
        config: CommerceConfig,
        db: Engine,
        catalog: Catalog,
        currencies: Currencies,
        processor: PaymentProcessor,
        chargers: Mapping[str, Charger],
        receipt_url: Callable[[str], str],
        *,
        default_provider: str | None = None,
    ) -> None:
        self.config = config
        self.default_provider = default_provider
        self.db = db
        self.catalog = catalog
        self.currencies = currencies
        self.processor = processor
        self.chargers = chargers
        self.receipt_url = receipt_url

    async def purchase(self, req: PurchaseRequest) -> dict[str, Any]:
        """The purchase endpoint's answer; PurchaseRefused / Conflict for what cannot start."""
        priced = self.price(req)
        if req.source == "balance":
            return await self._from_balance(req, priced)
        return await self._through_provider(req, priced)

    # -- pricing ---------------------------------------------------------------------------

    def price(self, req: PurchaseRequest) -> Priced:
        spec = self.catalog.get(req.product)
        if spec is None:
            raise PurchaseRefused(R.INVALID_PRODUCT, f"unknown product {req.product!r}")
        if spec.get("type") != "one_time":
            raise PurchaseRefused(
                R.INVALID_PRODUCT,
                f"{req.product} is a {spec.get('type')} product; purchase buys one_time products",
            )
        prices: Mapping[str, str] = spec.get("prices") or {}
        listed = {
            c.code: (c, text)
            for code, text in prices.items()
            if (c := self.currencies.get(code)) is not None
        }
        wanted = self._currency_code(req, listed)
        if wanted not in listed:
            raise PurchaseRefused(
                R.INVALID_CURRENCY,
                f"{req.product} has no price in {req.currency or 'a currency this source can pay'}",
            )
        currency, text = listed[wanted]
        if currency.virtual and req.source != "balance":
            raise PurchaseRefused(
                R.INVALID_CURRENCY, f"{currency.code} is paid from the balance only"
            )
        return Priced(currency, parse_minor(currency, text))

    def _currency_code(
        self, req: PurchaseRequest, listed: Mapping[str, tuple[Currency, str]]
    ) -> str | None:
        if req.currency == "virtual":
            return next((code for code, (c, _) in listed.items() if c.virtual), None)
        if req.currency is not None:
            found = self.currencies.get(req.currency)
            return found.code if found else None
        usable = [
            code for code, (c, _) in listed.items() if req.source == "balance" or not c.virtual
        ]
        return usable[0] if usable else None

    # -- from the balance ------------------------------------------------------------------

    async def _from_balance(self, req: PurchaseRequest, priced: Priced) -> dict[str, Any]:
        async def work(uow: UnitOfWork) -> dict[str, Any]:
            earlier = await self._earlier(uow, req)
            if earlier is not None:
                return earlier
            draft = self._draft(req, priced)
            posting = ledger.Posting(
                req.customer,
                priced.currency.code,
                -priced.units,
                ledger.Kind.PURCHASE,
                f"purchase:{req.customer}:{req.purchase_token}",
                draft.issued_at,
                reason=req.product,
                floor=0,
            )
            after, seq = await ledger.move(uow, posting)
            # the company's receipt counter is the one row every purchase shares: drawn last,
            # so it is held (until the commit) for as few statements as possible
            receipt = await receipts.issue(uow, draft)
            await ledger.write_entry(uow, posting, after, seq, receipt.number)
            body = answer(R.SUCCESS, receipt=self.receipt_body(receipt, priced.currency))
            await self._record(uow, req, "paid", body, None, receipt.number)
            return body

        try:
            body = await self.db.transact(work)
        except InsufficientBalance:
            return answer(
                R.INSUFFICIENT_BALANCE,
                f"the {priced.currency.code} balance cannot pay "
                f"{priced.currency.format(priced.units)}",
            )
        except ConstraintViolation:  # the same token, concurrently: answer as a replay
            body = await self.db.transact(lambda uow: self._replay(uow, req))
        log.info(
            "purchase.balance",
            customer=req.customer,
            product=req.product,
            currency=priced.currency.code,
            response=body["PaymentResponse"],
        )
        return body

    def _draft(self, req: PurchaseRequest, priced: Priced) -> receipts.Draft:
        spec = self.catalog.get(req.product) or {}
        company = self.config.company(spec.get("company"))
        rate = receipts.tax_rate_for(self.config, company, priced.currency, req.tax_country)
        line = receipts.Line(
            req.product, str(spec.get("description", req.product)), 1, priced.units
        )
        return receipts.Draft(
            company=company,
            kind=receipts.RECEIPT,
            currency=priced.currency,
            amounts=split(priced.units, rate),
            lines=(line,),
            method=f"balance:{priced.currency.code}",
            issued_at=self.processor.now(),
            tax_country=rate.country if rate else None,
            customer=req.customer,
            purchase_token=req.purchase_token,
            paid_at=self.processor.now(),
        )

    # -- the purchase token ----------------------------------------------------------------

    async def _earlier(self, uow: UnitOfWork, req: PurchaseRequest) -> dict[str, Any] | None:
        """The recorded answer of this token, None when unused; Conflict when it was used
        with other parameters."""
        row = await uow.fetchone(
            "SELECT request_hash, status, answer, payment_id FROM"
            " purchases WHERE customer = ? AND purchase_token = ?",
            (req.customer, req.purchase_token),
        )
        if row is None:
            return None
        if row["request_hash"] != req.fingerprint():
            raise Conflict("purchase_token already used with different parameters")
        if row["answer"]:
            return dict(json.loads(row["answer"]))
        if row["payment_id"]:
            return await self._settled_later(uow, row["payment_id"])
        return answer(R.DUPLICATE_PURCHASE, "this purchase is still being processed")

    async def _settled_later(self, uow: UnitOfWork, payment_id: str) -> dict[str, Any]:
        """The answer of a charge whose outcome arrived after its caller stopped waiting
        (a restart, a provider timeout settled by reconciliation or a webhook)."""
        found = await receipts.for_payment(uow, payment_id)
        currency = self.currencies.get(found[0].currency) if found else None
        if found and currency is not None:
            return answer(R.SUCCESS, receipt=self.receipt_body(found[0], currency))
        found_status = await payments.status_of(uow, payment_id)
        if found_status is not None and found_status[0] in ("failed", "canceled", "expired"):
            status, reason = found_status
            return answer(R.CARD_DECLINED, str(reason or status))
        return answer(R.PENDING, PENDING_MESSAGE)

    async def _replay(self, uow: UnitOfWork, req: PurchaseRequest) -> dict[str, Any]:
        earlier = await self._earlier(uow, req)
        return earlier or answer(R.DUPLICATE_PURCHASE, "retry")

    async def _record(
        self,
        uow: UnitOfWork,
        req: PurchaseRequest,
        status: str,
        body: dict[str, Any] | None,
        payment_id: str | None,
        receipt_number: str | None,
    ) -> None:
        await uow.execute(
            "INSERT INTO purchases (id, customer, purchase_token, request_hash, status, answer,"
            " payment_id, receipt_number, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                purchase_id(req),
                req.customer,
                req.purchase_token,
                req.fingerprint(),
                status,
                json.dumps(body) if body is not None else None,
                payment_id,
                receipt_number,
                self.processor.now(),
            ),
        )

    async def _settle_row(
        self,
        uow: UnitOfWork,
        req: PurchaseRequest,
        status: str,
        body: dict[str, Any],
        receipt_number: str | None,
    ) -> None:
        await uow.execute(
            "UPDATE purchases SET status = ?, answer = ?, receipt_number = ?"
            " WHERE customer = ? AND purchase_token = ? AND answer IS NULL",
            (status, json.dumps(body), receipt_number, req.customer, req.purchase_token),
        )

    def receipt_body(self, r: receipts.Receipt, currency: Currency) -> dict[str, Any]:
        """The purchase endpoint's PurchaseReceipt (amounts as decimal strings) plus a few extras."""
        company = self.config.company(r.company)
        return {
            "Amount": {
                "Total": currency.format(r.total),
                "Tax": currency.format(r.tax),
                "AmountLessTax": currency.format(r.less_tax),
            },
            "Company": company.name,
            "ABN": company.tax_id,
            "ReceiptNumber": r.number,
            "CreditCardNumber": receipts.mask(r.card_brand, r.card_last4) or "",
            "Currency": r.currency,
            "Url": self.receipt_url(r.view_token),
        }

    # -- through a provider ----------------------------------------------------------------

    def _charger(self, req: PurchaseRequest) -> Charger:
        if req.provider is not None:
            found = self.chargers.get(req.provider)
            if found is None:
                raise PurchaseRefused(
                    R.PROVIDER_ERROR, f"provider {req.provider!r} cannot charge purchases here"
                )
            return found
        if self.default_provider is not None:  # commerce.default_card_provider, checked at start
            return self.chargers[self.default_provider]
        if len(self.chargers) != 1:
            raise PurchaseRefused(
                R.PROVIDER_ERROR,
                "name the provider: " + (", ".join(sorted(self.chargers)) or "none configured"),
            )
        return next(iter(self.chargers.values()))

    async def _through_provider(self, req: PurchaseRequest, priced: Priced) -> dict[str, Any]:
        charger = self._charger(req)

        async def bind(uow: UnitOfWork) -> dict[str, Any] | None:
            earlier = await self._earlier(uow, req)
            if earlier is None:
                await self._record(uow, req, "pending", None, None, None)
            return earlier

        try:
            earlier = await self.db.transact(bind)
        except ConstraintViolation:
            earlier = await self.db.transact(lambda uow: self._replay(uow, req))
        if earlier is not None:
            return earlier
        amount = priced.currency.from_minor(priced.units)
        payment = await self.processor.create(
            NewPayment(
                method=charger.name,
                asset=priced.currency.code,
                amount=amount,
                product=req.product,
                customer=req.customer,
                extra=_extra(req),
            )
        )
        await self.db.transact(
            lambda uow: uow.execute(
                "UPDATE purchases SET payment_id = ? WHERE customer = ? AND purchase_token = ?",
                (payment.id, req.customer, req.purchase_token),
            )
        )
        result = await self._charge(charger, req, payment, amount, priced.currency)
        return await self._conclude(req, payment, result, priced.currency)

    async def _charge(
        self,
        charger: Charger,
        req: PurchaseRequest,
        payment: Payment,
        amount: Decimal,
        currency: Currency,
    ) -> ChargeResult:
        source = "stored_card" if req.source == "stored_card" else req.source
        try:
            return await charger.charge(
                ChargeRequest(
                    payment.id,
                    req.customer,
                    amount,
                    currency.code,
                    source,  # type: ignore[arg-type]
                    req.token,
                    req.wallet,
                )
            )
        except ProviderError as exc:
            log.warning("purchase.provider_failed", payment_id=payment.id, error=exc.detail)
            return ChargeResult("unknown", message=str(exc.detail or "provider failed"))

    async def _conclude(
        self, req: PurchaseRequest, payment: Payment, result: ChargeResult, currency: Currency
    ) -> dict[str, Any]:
        response = RESPONSES[result.outcome]
        if result.outcome == "unknown":
            log.warning("purchase.pending", payment_id=payment.id, message=result.message)
            return answer(response, PENDING_MESSAGE)
        outcome: dict[str, Any] = {}

        async def record(uow: UnitOfWork, paid: Payment) -> None:
            found = await receipts.for_payment(uow, paid.id)
            body = answer(
                response,
                result.message if response is not R.SUCCESS else "",
                self.receipt_body(found[0], currency) if found else None,
            )
            await self._settle_row(
                uow, req, "paid" if found else "failed", body, found[0].number if found else None
            )
            outcome["body"] = body

        kind = Event.PAID if result.outcome == "paid" else Event.FAILED
        event = PaymentEvent(
            kind,
            dedupe_key=f"purchase:{payment.id}:{kind.value}",
            provider_ref=result.provider_ref,
            reason=None if kind == Event.PAID else result.message,
            amount_received=payment.amount if kind == Event.PAID else None,
            extra={
                k: v
                for k, v in (("card_brand", result.card_brand), ("card_last4", result.card_last4))
                if v
            },
            source=payment.method,
        )
        applied = await self.processor.apply(payment.id, event, also=record)
        log.info(
            "purchase.charged",
            payment_id=payment.id,
            outcome=result.outcome,
            status=applied.payment.status.value,
        )
        if "body" in outcome:
            return dict(outcome["body"])
        return await self.db.transact(lambda uow: self._replay(uow, req))

    async def answer_of(self, req: PurchaseRequest) -> dict[str, Any] | None:
        """The recorded answer of a token (tests and support tools)."""
        return await self.db.transact(lambda uow: self._earlier(uow, req))


def purchase_id(req: PurchaseRequest) -> str:
    """The purchases row of (customer, purchase token)."""
    return hashlib.sha256(f"{req.customer}\0{req.purchase_token}".encode()).hexdigest()


def _extra(req: PurchaseRequest) -> dict[str, Any]:
    extra: dict[str, Any] = {"purchase_token": req.purchase_token, "purchase_source": req.source}
    if req.tax_country:
        extra["tax_country"] = req.tax_country
    if req.wallet:
        extra["wallet"] = req.wallet
    return extra

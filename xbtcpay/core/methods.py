"""The core JSON-RPC methods: start_payment, get_payment, list_payments, cancel_payment."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import replace
from decimal import Decimal
from typing import Any

from xbtcpay.core.amounts import parse_amount
from xbtcpay.core.deposits import Deposit
from xbtcpay.core.errors import Conflict, InvalidParams
from xbtcpay.core.handlers import PaymentHandlers
from xbtcpay.core.invoices import (
    INVOICE,
    Invoicing,
    current_quote,
    invoice_of,
    option_amount,
    parse_fiat_price,
)
from xbtcpay.core.models import CRYPTO, NewPayment, Payment, PaymentEvent
from xbtcpay.core.params import data_text, fiat_price, postback_url, return_url
from xbtcpay.core.persistence import StrayDeposits
from xbtcpay.core.postback import display_amount
from xbtcpay.core.processor import PaymentProcessor, request_hash
from xbtcpay.core.registry import MethodRegistry
from xbtcpay.core.settings import PaymentTerms
from xbtcpay.core.state import Event, State
from xbtcpay.plugin_api import CallContext

_ORDER_ID = re.compile(r"^[\x21-\x7e]{1,128}\Z")
KNOWN_EVENTS = {e.value for e in Event}
INVOICE_FIELDS_KEPT = 4096  # invoices whose options are kept computed (the newest)


class CoreMethods:
    """Handlers of the core methods; registered into a MethodRegistry."""

    def __init__(
        self,
        config: PaymentTerms,
        processor: PaymentProcessor,
        handlers: PaymentHandlers,
        strays: StrayDeposits | None = None,
        invoicing: Invoicing | None = None,
    ) -> None:
        self.config = config
        self.processor = processor
        self.handlers = handlers
        self.strays = strays
        self.invoicing = invoicing
        self._invoice_fields: dict[tuple[str, int], dict[str, Any]] = {}  # oldest first
        self._last_uri: tuple[Payment | None, str | None] = (None, None)

    def register(self, registry: MethodRegistry) -> None:
        registry.add("start_payment", self.start_payment)
        registry.add("get_payment", self.get_payment)
        registry.add("list_payments", self.list_payments)
        registry.add("cancel_payment", self.cancel_payment)

    async def start_payment(self, params: Mapping[str, Any], call: CallContext) -> dict[str, Any]:
        """Create a crypto payment, validating exactly as the original 0xBTCpay did first;
        with ``price`` instead of ``amount``, an invoice priced in fiat."""
        if params.get("price") is not None or params.get("product") is not None:
            return await self._start_invoice(params)
        asset_name = params.get("asset", self.config.default_asset)
        if not isinstance(asset_name, str) or asset_name not in self.config.assets:
            raise InvalidParams("unknown asset")
        asset = self.config.assets[asset_name]
        amount_raw = params.get("amount")
        if amount_raw is None or amount_raw is False:
            raise InvalidParams("missing amount")
        int_digits = len(str(int(asset.max_amount))) if asset.max_amount is not None else None
        amount = parse_amount(
            amount_raw,
            decimals=asset.decimals,
            max_amount=asset.max_amount,
            max_int_digits=int_digits,
        )
        if amount is None:
            raise InvalidParams("invalid amount")
        payment = await self.processor.create(self._new_payment(params, asset_name, amount, {}))
        return {
            "id": payment.id,
            "amount": display_amount(payment, payment.amount),
            "address": payment.address,
            **self.extra_fields(payment),
        }

    async def _start_invoice(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """An invoice priced in fiat: every offered asset quoted at the current rate, locked
        until ``quote_expires_at``; the payment's own asset and amount are the first
        option's, so clients of the original API still find their fields."""
        if self.invoicing is None:
            raise InvalidParams("price needs rate sources (a rates: section in the configuration)")
        product = self.invoicing.product_price(params)
        if product is not None:  # the catalog's price, in the currency asked for
            params = {**params, "price": format(product[1], "f")}
        ask = parse_fiat_price(params, self.config.assets)
        if params.get("asset") is not None:
            raise InvalidParams("an invoice priced in fiat names its assets in assets, not asset")
        pricing = self.invoicing.config
        expires_in = self._expires_in(params.get("expires_in"))
        if pricing.on_expiry == "expire":  # the payment ends with its quote
            expires_in = min(expires_in or pricing.lock, pricing.lock)
        terms = {
            "price": format(ask.price, "f"),
            "currency": ask.currency,
            "assets": None if ask.assets is None else list(ask.assets),
            "tolerance": format(pricing.tolerance, "f"),
            "on_expiry": pricing.on_expiry,
        }
        asked = self._new_payment(
            params,
            self.config.default_asset,
            Decimal(0),
            {INVOICE: terms},
            expires_in,
            product=None if product is None else product[0],
        )
        earlier = (
            await self.processor.store.get_by_order_id(asked.order_id) if asked.order_id else None
        )
        if earlier is not None:  # a retry: its invoice, whatever the rates are doing now
            if earlier.request_hash != request_hash(asked):
                raise Conflict("order_id already used with different parameters")
            return self._started(earlier)
        now = self.processor.now()
        lifetime = expires_in or self.config.payments.expire_after
        quote = await self.invoicing.quote(ask, now, now + min(pricing.lock, lifetime))
        first = quote["options"][0]
        new = replace(
            asked,
            asset=first["asset"],
            amount=option_amount(first),
            extra={**asked.extra, INVOICE: {**terms, "quotes": [quote]}},
            created_at=now,  # the quote's lock and the payment's expiry count from one moment
        )
        return self._started(await self.processor.create(new))

    def _started(self, payment: Payment) -> dict[str, Any]:
        """start_payment's answer: the original's three fields first, then the rest."""
        return {
            "id": payment.id,
            "amount": display_amount(payment, payment.amount),
            "address": payment.address,
            **self.extra_fields(payment),
        }

    def _new_payment(
        self,
        params: Mapping[str, Any],
        asset: str,
        amount: Decimal,
        more: dict[str, Any],
        expires_in: int | None = None,
        product: str | None = None,
    ) -> NewPayment:
        """The payment asked for; parameters checked in the original's order."""
        url = postback_url(params)
        return NewPayment(
            method=CRYPTO,
            asset=asset,
            amount=amount,
            data=data_text(params.get("data")),
            postback_url=url,
            postback_events=_events(params.get("postback_events")),
            order_id=_order_id(params.get("order_id")),
            expires_in=expires_in
            if expires_in is not None
            else self._expires_in(params.get("expires_in")),
            product=product,
            extra={**_checkout_extra(params), **more},
        )

    def _expires_in(self, value: Any) -> int | None:
        if value is None:
            return None
        limit = self.config.payments.max_expire
        if isinstance(value, bool) or not isinstance(value, int) or not 60 <= value <= limit:
            raise InvalidParams(f"invalid expires_in (integer seconds, 60..{limit})")
        return value

    def extra_fields(self, p: Payment) -> dict[str, Any]:
        return {
            "asset": p.asset,
            "status": p.status.value,
            "expires_at": p.expires_at,
            "payment_uri": self.payment_uri(p),
            "status_url": f"{self.config.public.base_url}/{p.id}/status.json",
            "checkout_url": f"{self.config.public.base_url}/pay/{p.id}",
            **self.chain_fields(p),
            **self.invoice_fields(p),
        }

    def invoice_fields(self, p: Payment) -> dict[str, Any]:
        """``price``, ``currency``, ``quote_expires_at`` and the current ``options`` of an
        invoice priced in fiat; nothing for a payment of a crypto amount.

        Kept per payment version: the answer to ``start_payment`` and the status.json body
        rendered at creation (and every poll's rendering until the payment changes) share
        one computation of the options and their wallet URIs."""
        invoice = invoice_of(p)
        if invoice is None:
            return {}
        key = (p.id, p.version)
        known = self._invoice_fields.get(key)
        if known is not None:
            return dict(known)
        fields = self._invoice_fields_of(p, invoice)
        if len(self._invoice_fields) >= INVOICE_FIELDS_KEPT:
            self._invoice_fields.pop(next(iter(self._invoice_fields)))
        self._invoice_fields[key] = fields
        return dict(fields)

    def _invoice_fields_of(self, p: Payment, invoice: Mapping[str, Any]) -> dict[str, Any]:
        quote = current_quote(invoice)
        picked = invoice.get("picked")
        return {
            "price": invoice["price"],
            "currency": invoice["currency"],
            "quote_expires_at": quote["expires_at"],
            "options": [self._option(p, o) for o in quote["options"]],
            "paid_option": None if picked is None else self._option(p, picked, uri=False),
            "underpaid": bool(p.extra.get("underpaid")),
        }

    def _option(self, p: Payment, option: Mapping[str, Any], *, uri: bool = True) -> dict[str, Any]:
        """One way to pay an invoice: the asset, its chain, the amount, the rate, a URI."""
        asset = str(option["asset"])
        amount = option_amount(option)
        priced = p  # the payment's own asset and amount, nothing received: the same URI
        if asset != p.asset or amount != p.amount or p.amount_received != 0:
            priced = replace(p, asset=asset, amount=amount, amount_received=Decimal(0))
        out = {
            "asset": asset,
            **self.chain_fields(priced),
            "amount": option["amount"],
            "rate": option["rate"],
        }
        if uri:
            out["payment_uri"] = self.payment_uri(priced)
        return out

    def quote_history(self, p: Payment) -> list[dict[str, Any]]:
        """Every quote an invoice was given, oldest first, with rates, sources and times."""
        invoice = invoice_of(p)
        return [] if invoice is None else [dict(q) for q in invoice["quotes"]]

    def chain_fields(self, p: Payment) -> dict[str, Any]:
        """``chain`` (its key in the configuration) and ``chain_id`` of a crypto payment's
        chain; both null for a payment through a provider."""
        chain = self.config.chain_of(p.asset) if p.method == CRYPTO else None
        return {
            "chain": None if chain is None else chain.key,
            "chain_id": None if chain is None else chain.chain_id,
        }

    def payment_uri(self, p: Payment) -> str | None:
        """The wallet URI of the payment's method handler (None for provider payments).

        The last payment's URI is kept: a new payment's status.json body (rendered when it
        is created) and the answer to ``start_payment`` ask for it of the same object, and a
        ``Payment`` is frozen, so the same object always has the same URI."""
        last, uri = self._last_uri
        if last is not p:
            uri = self.handlers.payment_uri(p)
            self._last_uri = (p, uri)
        return uri

    async def get_payment(self, params: Mapping[str, Any], call: CallContext) -> dict[str, Any]:
        payment = await self.processor.get(_payment_id(params))
        found = await self.strays.strays_of(payment.id) if self.strays is not None else []
        described = {**self.describe(payment), "stray_deposits": [self._stray(d) for d in found]}
        invoice = invoice_of(payment)
        if invoice is not None:
            described["quotes"] = self.quote_history(payment)
            picked = invoice.get("picked")
            if picked is not None:  # with the rate's sources and times, and its quote's time
                described["paid_option"] = {**dict(picked), **described["paid_option"]}
        return described

    def _stray(self, d: Deposit) -> dict[str, Any]:
        """A stray deposit as the shop sees it: where, what, how much (for a refund)."""
        asset = self.config.assets.get(d.asset)
        chain = self.config.chain_of(d.asset)
        amount = Decimal(d.units).scaleb(-asset.decimals) if asset is not None else None
        return {
            "chain": d.chain,
            "chain_id": None if chain is None else chain.chain_id,
            "asset": d.asset,
            "amount": None if amount is None else format(amount.normalize(), "f"),
            "units": str(d.units),
            "address": d.address,
            "tx_hash": d.tx_hash,
            "block_number": d.block_number,
        }

    def describe(self, p: Payment) -> dict[str, Any]:
        return {
            "id": p.id,
            "method": p.method,
            "asset": p.asset,
            "amount": display_amount(p, p.amount),
            "amount_received": display_amount(p, p.amount_received),
            "address": p.address,
            "status": p.status.value,
            "data": p.data,
            "order_id": p.order_id,
            "postback_url": p.postback_url,
            "created_at": p.created_at,
            "expires_at": p.expires_at,
            "seen_at": p.seen_at,
            "paid_at": p.paid_at,
            "tx_hash": p.tx_hash,
            "late": p.late,
            "overpaid": p.overpaid,
            "reorged": p.reorged,
            "product": p.product,
            "customer": p.customer,
            "reason": p.reason,
            "payment_uri": self.payment_uri(p),
            **self.chain_fields(p),
            **self.invoice_fields(p),
        }

    async def list_payments(self, params: Mapping[str, Any], call: CallContext) -> dict[str, Any]:
        filters: dict[str, Any] = {}
        for key in ("status", "method", "asset", "customer"):
            value = params.get(key)
            if value is not None and not isinstance(value, str):
                raise InvalidParams(f"{key} must be a string")
            filters[key] = value
        if filters["status"] is not None and filters["status"] not in {s.value for s in State}:
            raise InvalidParams("unknown status")
        limit, offset = params.get("limit", 100), params.get("offset", 0)
        for key, value, high in (("limit", limit, 1000), ("offset", offset, 10**9)):
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= high:
                raise InvalidParams(f"{key} must be an integer between 0 and {high}")
        for key in ("created_after", "created_before"):
            value = params.get(key)
            if value is not None and (
                isinstance(value, bool)
                or not isinstance(value, int)
                or not -(2**63) <= value < 2**63
            ):  # beyond SQL's 64-bit integers the query itself would fail
                raise InvalidParams(f"{key} must be a UNIX timestamp")
            filters[key] = value
        rows = await self.processor.store.search(**filters, limit=limit, offset=offset)
        return {"payments": [self.describe(p) for p in rows], "limit": limit, "offset": offset}

    async def cancel_payment(self, params: Mapping[str, Any], call: CallContext) -> dict[str, Any]:
        payment_id = _payment_id(params)
        result = await self.processor.apply(payment_id, PaymentEvent(Event.CANCELED, source="shop"))
        if not result.changed:
            raise InvalidParams(f"cannot cancel a payment in state {result.payment.status.value}")
        return self.describe(result.payment)


def _checkout_extra(params: Mapping[str, Any]) -> dict[str, Any]:
    """What the checkout page shows beside the payment: the way back, the fiat price."""
    extra: dict[str, Any] = {}
    url, fiat = return_url(params), fiat_price(params)
    if url is not None:
        extra["return_url"] = url
    if fiat is not None:
        extra["fiat"] = fiat
    return extra


def _payment_id(params: Mapping[str, Any]) -> str:
    value = params.get("id")
    if not isinstance(value, str) or not value or len(value) > 64:
        raise InvalidParams("missing or invalid id")
    return value


def _order_id(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not _ORDER_ID.match(value):
        raise InvalidParams("invalid order_id (1-128 printable characters)")
    return value


def _events(value: Any) -> tuple[str, ...] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not all(
        isinstance(v, str) and v in KNOWN_EVENTS for v in value
    ):
        raise InvalidParams(f"postback_events must be a list of: {', '.join(sorted(KNOWN_EVENTS))}")
    return tuple(value)

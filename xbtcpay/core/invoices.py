"""Invoices priced in fiat: a price in a currency, quoted in every offered asset.

A shop prices in dollars or euros; the customer pays in a crypto asset. ``start_payment``
with ``price`` and ``currency`` asks the rate quoter (the rate book, wired in by the root)
for each offered asset's rate and locks the resulting crypto amounts until the quote ends
(``pricing.lock``). Every quote keeps its rate, the sources the rate rests on and their
times, so that what a customer was asked to pay can always be explained afterwards.

Amounts are rounded up to the asset's smallest unit: a quote never asks for less than the
price. Money stays Decimal from the rate's text to the quoted amount.

The quotes live in the payment's ``extra["invoice"]``:
``{"price", "currency", "assets", "quotes": [{"quoted_at", "expires_at", "options"}]}``,
the last quote being the current one.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal, localcontext
from typing import Any, Protocol

from xbtcpay.core.amounts import parse_money, to_decimal
from xbtcpay.core.catalog import Catalog
from xbtcpay.core.errors import InvalidParams, RpcError
from xbtcpay.core.models import Payment
from xbtcpay.core.settings import AssetConfig, PricingConfig

INVOICE = "invoice"  # the key of the quotes in a payment's extra
_CURRENCY = re.compile(r"^[A-Z]{3}\Z")
PRICE_DECIMALS = 8  # fraction digits a price may have (covers every ISO 4217 minor unit)


@dataclass(frozen=True)
class RateQuote:
    """How many CURRENCY one ASSET is worth now, and what that rests on."""

    value: Decimal
    at: int  # the time of the oldest answer the rate rests on
    sources: tuple[Mapping[str, Any], ...]  # each source's answer: source, rate, at (, via)


class RateQuoter(Protocol):
    """What invoices need of the rates: one pair's reliable rate, or a refusal."""

    async def quote(self, asset: str, currency: str) -> RateQuote:
        """The rate of ``asset`` in ``currency``; raises an RpcError (-32012 no reliable
        rate) when no fresh sources agree."""
        ...


@dataclass(frozen=True)
class FiatPrice:
    """What the shop asked for: a price, its currency, and the assets it accepts (None:
    every configured asset with a rate)."""

    price: Decimal
    currency: str
    assets: tuple[str, ...] | None


def parse_fiat_price(params: Mapping[str, Any], assets: Mapping[str, AssetConfig]) -> FiatPrice:
    """``price``, ``currency`` and ``assets`` of ``start_payment``, checked."""
    if params.get("amount") is not None:
        raise InvalidParams("give either amount (in the asset) or price (in currency), not both")
    price = parse_money(params.get("price"), decimals=PRICE_DECIMALS)
    if price is None:
        raise InvalidParams('invalid price (a positive decimal string such as "19.99")')
    currency = params.get("currency")
    if not isinstance(currency, str) or not _CURRENCY.match(currency):
        raise InvalidParams("invalid currency (an ISO 4217 code such as USD)")
    wanted = params.get("assets")
    if wanted is None:
        return FiatPrice(price, currency, None)
    if (
        not isinstance(wanted, list)
        or not wanted
        or not all(isinstance(a, str) for a in wanted)
        or len(set(wanted)) != len(wanted)
    ):
        raise InvalidParams("assets must be a non-empty list of distinct asset names")
    unknown = [a for a in wanted if a not in assets]
    if unknown:
        raise InvalidParams(f"unknown asset {unknown[0]!r} in assets")
    return FiatPrice(price, currency, tuple(wanted))


def quoted_amount(price: Decimal, rate: Decimal, decimals: int) -> Decimal:
    """``price / rate`` rounded up to the asset's smallest unit (never less than the price)."""
    with localcontext() as ctx:
        ctx.prec = 80
        return (price / rate).quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_CEILING)


class Invoicing:
    """Quotes fiat prices in the offered assets, at the current reliable rates."""

    def __init__(
        self,
        config: PricingConfig,
        quoter: RateQuoter | None,
        assets: Mapping[str, AssetConfig],
        default_asset: str,
        catalog: Catalog | None = None,
    ) -> None:
        self.config = config
        self.quoter = quoter
        self.assets = assets
        self.default_asset = default_asset
        self.catalog = catalog

    def product_price(self, params: Mapping[str, Any]) -> tuple[str, Decimal] | None:
        """``(product, price)`` of an invoice for a catalog product: a one_time product's
        price in ``currency`` (a ``price`` given too must be that price); None without
        ``product``."""
        product = params.get("product")
        if product is None:
            return None
        spec = self.catalog.get(product) if self.catalog and isinstance(product, str) else None
        if spec is None or self.catalog is None:
            raise InvalidParams(f"unknown product {product!r}")
        if spec.get("type", "one_time") != "one_time":
            raise InvalidParams(f"{product} is a {spec.get('type')} product; only one_time")
        currency = params.get("currency")
        if not isinstance(currency, str) or not _CURRENCY.match(currency):
            raise InvalidParams("invalid currency (an ISO 4217 code such as USD)")
        _, price = self.catalog.price(product, currency, params.get("price"))
        return str(product), price

    def offered(self, ask: FiatPrice) -> tuple[str, ...]:
        """The assets to quote, in the order shown: the shop's list, else the default asset
        first and the others in configuration order."""
        if ask.assets is not None:
            return ask.assets
        rest = [name for name in self.assets if name != self.default_asset]
        return (self.default_asset, *rest)

    async def quote(self, ask: FiatPrice, now: int, ends: int) -> dict[str, Any]:
        """A quote record: every offered asset's amount at its rate, valid until ``ends``.

        Assets the shop named must all be quoted (the first refusal is the error); of the
        assets offered by default, those without a reliable rate are left out, and only
        when none has one is the first refusal the error."""
        if self.quoter is None:
            raise InvalidParams("price needs rate sources (a rates: section in the configuration)")
        quoter = self.quoter
        names = self.offered(ask)
        answers = await _quotes(quoter, names, ask.currency)
        options: list[dict[str, Any]] = []
        refusal: RpcError | None = None
        for name, answer in zip(names, answers, strict=True):
            if isinstance(answer, RpcError):
                if ask.assets is not None:
                    raise answer
                refusal = refusal or answer
                continue
            if isinstance(answer, BaseException):
                raise answer
            option = self._option(name, ask.price, answer)
            if option is None:
                if ask.assets is not None:
                    raise InvalidParams(f"price is more than {name}'s max_amount")
                continue
            options.append(option)
        if not options:
            if refusal is not None:
                raise refusal
            raise InvalidParams("price is more than every asset's max_amount")
        return {"quoted_at": now, "expires_at": ends, "options": options}

    def _option(self, name: str, price: Decimal, rate: RateQuote) -> dict[str, Any] | None:
        asset = self.assets[name]
        amount = quoted_amount(price, rate.value, asset.decimals)
        if asset.max_amount is not None and amount > asset.max_amount:
            return None
        return {
            "asset": name,
            "amount": _text(amount),
            "rate": _text(rate.value),
            "rate_at": rate.at,
            "sources": [dict(s) for s in rate.sources],
        }


async def _quotes(
    quoter: RateQuoter, names: Sequence[str], currency: str
) -> Sequence[RateQuote | BaseException]:
    """Every asset's rate or its refusal, asked at once; a single asset is awaited in
    place (the usual invoice: no tasks to schedule for one answer from the cache)."""
    if len(names) == 1:
        try:
            return [await quoter.quote(names[0], currency)]
        except Exception as exc:  # handed back, as gather hands it back
            return [exc]
    return await asyncio.gather(
        *(quoter.quote(name, currency) for name in names), return_exceptions=True
    )


def tolerance_of(p: Payment) -> Decimal:
    """How many percent of its quoted amount an invoice may lack and still be paid (the
    terms it was created under; 0 for a payment of a crypto amount)."""
    invoice = invoice_of(p)
    if invoice is None:
        return Decimal(0)
    return to_decimal(str(invoice.get("tolerance", "0")))


def option_of(p: Payment, asset: str) -> Mapping[str, Any] | None:
    """The current quote's option in ``asset`` (None: not offered, or no invoice)."""
    invoice = invoice_of(p)
    if invoice is None:
        return None
    return next((o for o in current_quote(invoice)["options"] if o["asset"] == asset), None)


def is_picked(p: Payment) -> bool:
    """Whether the invoice's first funds have chosen its option (always for other payments)."""
    invoice = invoice_of(p)
    return invoice is None or invoice.get("picked") is not None


def picked_extra(p: Payment, asset: str, at: int) -> dict[str, Any]:
    """The ``extra`` change that records ``asset``'s option as the one paid: its amount,
    rate, sources and the quote it belongs to, kept whatever later quotes say."""
    invoice = invoice_of(p)
    option = option_of(p, asset)
    assert invoice is not None and option is not None
    quote = current_quote(invoice)
    picked = {**option, "quoted_at": quote["quoted_at"], "picked_at": at}
    return {INVOICE: {**invoice, "picked": picked}}


def invoice_of(p: Payment) -> Mapping[str, Any] | None:
    """The invoice record of a payment priced in fiat (None for any other payment)."""
    record = p.extra.get(INVOICE)
    return record if isinstance(record, Mapping) else None


def current_quote(invoice: Mapping[str, Any]) -> Mapping[str, Any]:
    quotes: Sequence[Mapping[str, Any]] = invoice["quotes"]
    return quotes[-1]


def option_amount(option: Mapping[str, Any]) -> Decimal:
    return to_decimal(str(option["amount"]))


def _text(value: Decimal) -> str:
    return format(value.normalize(), "f") if value != 0 else "0"

"""``export.journal`` on the private port, and the export both it and ``xbtcpay export`` run.

The fiat column uses a payment's own fiat price where it has one; otherwise, with a
``currency`` and ``rates:`` configured, the rate book's rate at export time (not the rate of
the movement's day: a historical rate per movement is future work).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import structlog

from xbtcpay.books.beancount_text import beancount_text
from xbtcpay.books.csv_text import csv_text
from xbtcpay.books.movements import Decimals, RateLookup, Sources, collect
from xbtcpay.books.period import ExportRequest, iso, parse_request
from xbtcpay.commerce.currencies import Currencies
from xbtcpay.commerce.purchases.ledger import LedgerReader
from xbtcpay.commerce.purchases.receipts import ReceiptReader
from xbtcpay.core.persistence import Engine
from xbtcpay.core.registry import MethodRegistry
from xbtcpay.core.settings import AssetConfig
from xbtcpay.plugin_api import CallContext
from xbtcpay.rates.book import RateBook
from xbtcpay.rates.observation import NoReliableRate
from xbtcpay.rates.settings import Pair
from xbtcpay.storage.chain_store import ChainStore
from xbtcpay.storage.payments import PaymentStore
from xbtcpay.storage.refunds import RefundStore
from xbtcpay.sweep.records import SweepStore

log = structlog.get_logger("xbtcpay.books")
TITLE = "xbtcpay books"


def sources_of(db: Engine) -> Sources:
    return Sources(
        PaymentStore(db),
        ChainStore(db),
        ReceiptReader(db),
        LedgerReader(db),
        SweepStore(db),
        db,
        RefundStore(db),
    )


def rate_lookup(book: RateBook, assets: Mapping[str, AssetConfig]) -> RateLookup:
    """The rate book's current rate of a configured asset, or None (no reliable rate, or
    not an asset the rate book knows)."""

    async def lookup(asset: str, currency: str) -> Decimal | None:
        if asset not in assets:
            return None
        try:
            return (await book.rate(Pair(asset, currency))).value
        except NoReliableRate as exc:
            log.warning("books.no_rate", asset=asset, currency=currency, error=str(exc))
            return None

    return lookup


class Books:
    """Builds the export text of a period from the tables' owners."""

    def __init__(self, sources: Sources, decimals: Decimals, rate: RateLookup | None) -> None:
        self.sources = sources
        self.decimals = decimals
        self.rate = rate

    async def export(self, request: ExportRequest) -> tuple[str, int]:
        """The text and the number of movements in it."""
        movements = await collect(
            self.sources, request.start, request.end, self.decimals, request.currency, self.rate
        )
        if request.format == "csv":
            return csv_text(movements), len(movements)
        text = beancount_text(movements, request.start, request.end, request.currency, TITLE)
        return text, len(movements)

    async def journal(self, params: Mapping[str, Any], call: CallContext) -> dict[str, Any]:
        """``{from, to, format, currency?}`` -> ``{format, from, to, movements, text}``."""
        request = parse_request(params)
        text, count = await self.export(request)
        log.info("books.exported", format=request.format, movements=count)
        return {
            "format": request.format,
            "from": iso(request.start),
            "to": iso(request.end),
            "currency": request.currency,
            "movements": count,
            "text": text,
        }


def build(
    db: Engine,
    assets: Mapping[str, AssetConfig],
    virtual_currencies: Mapping[str, int],
    book: RateBook | None,
    default_chain: str = "main",
) -> Books:
    rate = rate_lookup(book, assets) if book is not None else None
    decimals = Decimals(Currencies(virtual_currencies), assets, default_chain)
    return Books(sources_of(db), decimals, rate)


def register(
    db: Engine,
    assets: Mapping[str, AssetConfig],
    virtual_currencies: Mapping[str, int],
    book: RateBook | None,
    registry: MethodRegistry,
    default_chain: str = "main",
) -> Books:
    """Plug the books into a daemon: ``export.journal`` (private port)."""
    books = build(db, assets, virtual_currencies, book, default_chain)
    registry.add("export.journal", books.journal)
    return books

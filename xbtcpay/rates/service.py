"""Rates in the running daemon: the private method ``rates.get`` and the leader's refresh.

``rates.get {asset, currency}`` answers what a quote would use: the median rate, and each
source's answer with its time, so that an operator can see why a rate is what it is, or
why there is none.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import aiohttp

from xbtcpay.chain.client import ChainClient
from xbtcpay.chain.settings import ChainConfig
from xbtcpay.chain.watcher import http_urls
from xbtcpay.core.errors import InvalidParams
from xbtcpay.core.invoices import RateQuote
from xbtcpay.core.registrations import Registrations
from xbtcpay.core.registry import MethodRegistry
from xbtcpay.core.settings import AssetConfig
from xbtcpay.plugin_api import CallContext
from xbtcpay.rates.book import RateBook
from xbtcpay.rates.fixed import FixedSource
from xbtcpay.rates.observation import Rate, RateSource
from xbtcpay.rates.onchain import Caller, ChainlinkSource, PoolSource
from xbtcpay.rates.settings import Pair, RatesConfig, SourceConfig, parse_pair
from xbtcpay.rates.tickers import CoinbaseSource, CoinGeckoSource, KrakenSource


def chain_nodes(
    chains: Mapping[str, ChainConfig], default: str, session: aiohttp.ClientSession
) -> Callable[[str | None], Caller]:
    """``node_for(chain)``: a node client per configured chain (None: the ``default`` one),
    over ``session``; clients are made on first use."""
    made: dict[str, ChainClient] = {}

    def node_for(chain: str | None) -> Caller:
        key = chain or default
        if key not in made:
            spec = chains[key]
            made[key] = ChainClient(
                http_urls(spec.rpc_urls), timeout=spec.request_timeout, session=session
            )
        return made[key]

    return node_for


def build_sources(
    config: RatesConfig,
    session: aiohttp.ClientSession,
    assets: Mapping[str, AssetConfig],
    node_for: Callable[[str | None], Caller],
) -> dict[str, RateSource]:
    """One source object per configured source; ``node_for(chain)`` gives the node of a
    chain (None: the one configured chain)."""
    symbols = {name: a.symbol or name.upper() for name, a in assets.items()}
    contracts = {name: a.contract or "" for name, a in assets.items()}
    decimals = {name: a.decimals for name, a in assets.items()}
    sources: dict[str, RateSource] = {}
    for name, spec in config.sources.items():
        sources[name] = _source(spec, session, symbols, contracts, decimals, node_for)
    return sources


def _source(
    spec: SourceConfig,
    session: aiohttp.ClientSession,
    symbols: dict[str, str],
    contracts: dict[str, str],
    decimals: dict[str, int],
    node_for: Callable[[str | None], Caller],
) -> RateSource:
    if spec.kind == "fixed":
        return FixedSource(spec)
    if spec.kind == "coinbase":
        return CoinbaseSource(spec, session, symbols)
    if spec.kind == "kraken":
        return KrakenSource(spec, session, symbols)
    if spec.kind == "coingecko":
        return CoinGeckoSource(spec, session, symbols)
    if spec.kind == "chainlink":
        return ChainlinkSource(spec, node_for(spec.chain))
    return PoolSource(spec, node_for(spec.chain), contracts, decimals)


class BookQuoter:
    """The rate book as the invoices' quoter (``core.invoices.RateQuoter``)."""

    def __init__(self, book: RateBook) -> None:
        self.book = book
        # the quote of each pair's latest rate: the book hands out one agreed Rate object
        # for up to a second, and every invoice in that second quotes the same thing
        self._quoted: dict[tuple[str, str], tuple[Rate, RateQuote]] = {}

    async def quote(self, asset: str, currency: str) -> RateQuote:
        """The pair's reliable rate; raises NoReliableRate (-32012)."""
        rate = await self.book.rate(Pair(asset, currency))
        known = self._quoted.get((asset, currency))
        if known is not None and known[0] is rate:
            return known[1]
        quote = RateQuote(rate.value, int(rate.at), tuple(o.json() for o in rate.observations))
        self._quoted[(asset, currency)] = (rate, quote)
        return quote


class RatesService:
    def __init__(self, book: RateBook, config: RatesConfig, assets: Mapping[str, Any]) -> None:
        self.book = book
        self.config = config
        self.assets = assets

    def register(self, registry: MethodRegistry, registrations: Registrations) -> None:
        registry.add("rates.get", self.get)
        registrations.jobs.append(("rates-refresh", self.book.refresh, self.config.refresh))

    async def get(self, params: Mapping[str, Any], call: CallContext) -> dict[str, Any]:
        unknown = set(params) - {"asset", "currency"}
        if unknown:
            raise InvalidParams(f"unknown parameter {min(unknown)!r}")
        asset, currency = params.get("asset"), params.get("currency")
        if not isinstance(asset, str) or asset not in self.assets:
            raise InvalidParams(f"asset: expected one of {', '.join(sorted(self.assets))}")
        pair = parse_pair(f"{asset}/{currency}") if isinstance(currency, str) else None
        if pair is None:
            raise InvalidParams("currency: expected an ISO 4217 code such as USD")
        rate = await self.book.rate(Pair(pair.asset, pair.currency))
        return rate.json()


def register(
    config: RatesConfig,
    session: aiohttp.ClientSession,
    assets: Mapping[str, AssetConfig],
    node_for: Callable[[str | None], Caller],
    registry: MethodRegistry,
    registrations: Registrations,
) -> RatesService:
    """Plug rates into a daemon: ``rates.get`` and the leader's refresh job."""
    book = RateBook(config, build_sources(config, session, assets, node_for))
    service = RatesService(book, config, assets)
    service.register(registry, registrations)
    return service

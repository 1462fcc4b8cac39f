"""Plug the commerce layer into a daemon in one call: the settlement hook on the processor,
the purchase, balance and media-access methods in the registry, the methods sessions may
call on the public port, the leader's jobs and the listener of plugin subscription events.

``register`` runs before plugins start, so no transition misses the settlement hook; the
chargers are the plugins that will be started (all of them start, or the daemon does not).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

import aiohttp
from prometheus_client import CollectorRegistry, Gauge

from xbtcpay.commerce.currencies import Currency
from xbtcpay.commerce.customer_methods import CustomerMethods
from xbtcpay.commerce.introspection import Introspector
from xbtcpay.commerce.media_access.wiring import Media, MediaAccessInputs, build_media
from xbtcpay.commerce.purchases.ledger import LedgerReader
from xbtcpay.commerce.purchases.methods import CommerceMethods
from xbtcpay.commerce.purchases.purchase import Purchases
from xbtcpay.commerce.purchases.refunds import Refunds
from xbtcpay.commerce.purchases.settlement import Settlement
from xbtcpay.commerce.sessions import SessionResolver, SessionVerifier
from xbtcpay.core.catalog import Catalog
from xbtcpay.core.errors import ConfigError
from xbtcpay.core.persistence import Engine
from xbtcpay.core.processor import PaymentProcessor
from xbtcpay.core.registrations import Registrations
from xbtcpay.core.registry import MethodRegistry
from xbtcpay.core.settings import AssetConfig
from xbtcpay.plugin_api.charging import Charger


class CommerceInputs(MediaAccessInputs, Protocol):
    """What the commerce layer reads of the whole configuration: the media access inputs,
    the configured crypto assets (priced like currencies) and the default one."""

    @property
    def assets(self) -> Mapping[str, AssetConfig]: ...
    @property
    def default_asset(self) -> str: ...


@dataclass
class Commerce:
    methods: CommerceMethods
    customer_methods: CustomerMethods
    verifier: SessionVerifier
    sessions: SessionResolver
    settlement: Settlement
    media: Media


def register(
    config: CommerceInputs,
    base_url: str,
    db: Engine,
    catalog: Catalog,
    processor: PaymentProcessor,
    chargers: Mapping[str, Charger],
    clock: Callable[[], float],
    metrics: CollectorRegistry,
    registry: MethodRegistry,
    registrations: Registrations,
    http: aiohttp.ClientSession,
) -> Commerce:
    """Build the commerce objects and register what they offer; return them (the routes
    are mounted by the root on the port each belongs to). ``http`` is the client for the
    shop's own URLs (session introspection): the postback client, with its address rules."""
    media = build_media(config, db, registry, clock)
    if media.sells_media:  # no subscription/ownage/ppv product: nothing to run
        registrations.jobs.append(
            ("commerce-expiry", media.expire_due, config.media_access.expiry_interval)
        )
        registrations.jobs.append(
            ("subscription-bridge", media.follow_payments, config.media_access.bridge_interval)
        )
    registrations.subscription_listeners.append(media.subscriptions.from_plugin)
    currencies = config.commerce.currencies()
    settlement = Settlement(config.commerce, catalog, currencies, config.assets)
    processor.transaction_hooks.append(settlement)

    def receipt_url(token: str) -> str:
        return f"{base_url}/receipts/{token}"

    default_card = config.media_access.default_card_provider
    if default_card is not None and default_card not in chargers:
        raise ConfigError(
            [
                f"commerce.default_card_provider: {default_card!r} is not an enabled card plugin"
                f" ({', '.join(sorted(chargers)) or 'none enabled'})"
            ]
        )
    purchases = Purchases(
        config.commerce,
        db,
        catalog,
        currencies,
        processor,
        chargers,
        receipt_url,
        default_provider=default_card,
    )
    crypto = {name: Currency(name, a.decimals, virtual=True) for name, a in config.assets.items()}
    methods = CommerceMethods(
        db, catalog, currencies, purchases, processor, crypto, receipt_url, config.default_asset
    )
    methods.refunds = Refunds(config.commerce, db, currencies, processor.now)
    methods.register(registry)
    verifier = SessionVerifier(config.commerce.sessions, clock=clock)
    settings = config.commerce.sessions
    introspector = None
    if settings.introspect_url is not None:
        introspector = Introspector(settings, http, clock)
    customer_methods = CustomerMethods()
    media.expose(customer_methods)
    registrations.jobs.append(
        ("commerce.negative_balances", _negative_balances(methods.ledger, metrics), 15.0)
    )
    sessions = SessionResolver(verifier, introspector)
    return Commerce(methods, customer_methods, verifier, sessions, settlement, media)


def _negative_balances(
    reader: LedgerReader, metrics: CollectorRegistry
) -> Callable[[], Awaitable[None]]:
    gauge = Gauge(
        "xbtcpay_negative_balances",
        "Customer balances below zero (after reversals), by currency",
        ["currency"],
        registry=metrics,
    )

    async def refresh() -> None:
        counts = await reader.negative()
        gauge.clear()
        for currency, count in counts.items():
            gauge.labels(currency).set(count)

    return refresh

"""Wire the commerce layer into a running daemon: the settlement hook on the processor,
the methods in the registry, the session-guarded public routes, the metrics job."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import Gauge

from xbtcpay.app.runtime import Runtime
from xbtcpay.commerce.currencies import Currency
from xbtcpay.commerce.public_api import CustomerMethods, PublicApi
from xbtcpay.commerce.purchases.charging import Charger
from xbtcpay.commerce.purchases.ledger import LedgerReader
from xbtcpay.commerce.purchases.methods import CommerceMethods
from xbtcpay.commerce.purchases.purchase import Purchases
from xbtcpay.commerce.purchases.refunds import Refunds
from xbtcpay.commerce.purchases.routes import CommerceRoutes
from xbtcpay.commerce.purchases.settlement import Settlement
from xbtcpay.commerce.sessions import SessionVerifier


@dataclass
class Commerce:
    methods: CommerceMethods
    customer_methods: CustomerMethods
    verifier: SessionVerifier
    routes: CommerceRoutes
    settlement: Settlement


def attach_settlement(rt: Runtime) -> Settlement:
    """The transaction hook alone (before plugins start, so no transition misses it)."""
    config = rt.config.commerce
    settlement = Settlement(config, rt.catalog, config.currencies(), rt.config.assets)
    rt.processor.transaction_hooks.append(settlement)
    return settlement


def attach_commerce(rt: Runtime, settlement: Settlement) -> Commerce:
    """Everything else, once plugins have started (their chargers are known)."""
    config = rt.config.commerce
    currencies = config.currencies()
    base = rt.config.public.base_url

    def receipt_url(token: str) -> str:
        return f"{base}/receipts/{token}"

    chargers = {name: p for name, p in rt.plugins.items() if isinstance(p, Charger)}
    purchases = Purchases(
        config, rt.db, rt.catalog, currencies, rt.processor, chargers, receipt_url
    )
    crypto = {
        name: Currency(name, a.decimals, virtual=True) for name, a in rt.config.assets.items()
    }
    methods = CommerceMethods(
        rt.db,
        rt.catalog,
        currencies,
        purchases,
        rt.processor,
        crypto,
        receipt_url,
        rt.config.default_asset,
    )
    methods.refunds = Refunds(config, rt.db, currencies, rt.processor.now)
    methods.register(rt.registry)
    verifier = SessionVerifier(config.sessions, clock=rt.processor.clock)
    customer_methods = CustomerMethods()
    public_api = PublicApi(verifier, customer_methods)
    routes = CommerceRoutes(config, methods, public_api)
    _negative_balances_job(rt, methods.ledger)
    return Commerce(methods, customer_methods, verifier, routes, settlement)


def _negative_balances_job(rt: Runtime, reader: LedgerReader) -> None:
    gauge = Gauge(
        "xbtcpay_negative_balances",
        "Customer balances below zero (after reversals), by currency",
        ["currency"],
        registry=rt.metrics.registry,
    )

    async def refresh() -> None:
        counts = await reader.negative()
        gauge.clear()
        for currency, count in counts.items():
            gauge.labels(currency).set(count)

    rt.registrations.jobs.append(("commerce.negative_balances", refresh, 15.0))

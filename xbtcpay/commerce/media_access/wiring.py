"""Build the subscription / entitlement / voucher objects of one daemon from its config."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from xbtcpay.commerce.customer_methods import CustomerMethods
from xbtcpay.commerce.media_access.access import Access
from xbtcpay.commerce.media_access.inapp import InAppVerification
from xbtcpay.commerce.media_access.methods import MediaAccessMethods
from xbtcpay.commerce.media_access.payment_bridge import PaymentBridge
from xbtcpay.commerce.media_access.products import media_terms
from xbtcpay.commerce.media_access.settings import MediaAccessSettings
from xbtcpay.commerce.media_access.subscription_receipts import ReceiptIssuer
from xbtcpay.commerce.media_access.subscriptions import Subscriptions
from xbtcpay.commerce.media_access.transactions import Transactions
from xbtcpay.commerce.media_access.voucher_attempts import AttemptLimiter
from xbtcpay.commerce.media_access.voucher_store import VoucherStore
from xbtcpay.commerce.settings import CommerceConfig
from xbtcpay.core.catalog import Catalog
from xbtcpay.core.persistence import Engine
from xbtcpay.core.registry import MethodRegistry


class MediaAccessInputs(Protocol):
    """What the media access objects are built from: the catalog, the ``commerce:`` section
    (``media_access``) and the receipts' currencies and companies (``commerce``)."""

    @property
    def products(self) -> Mapping[str, Mapping[str, Any]]: ...
    @property
    def commerce(self) -> CommerceConfig: ...
    @property
    def media_access(self) -> MediaAccessSettings: ...


@dataclass
class Media:
    """The media-commerce objects of one daemon (``Commerce.media``)."""

    access: Access
    transactions: Transactions
    subscriptions: Subscriptions
    vouchers: VoucherStore
    methods: MediaAccessMethods
    bridge: PaymentBridge
    sells_media: bool = False  # the catalog has subscription / ownage / ppv products

    async def expire_due(self) -> None:
        """The periodic job: prepared transactions past prepare_ttl, subscriptions past
        valid_until, voucher attempt windows that have passed."""
        await self.transactions.expire_due()
        await self.subscriptions.expire_due()
        await self.methods.limiter.forget_idle()

    def expose(self, customer_methods: CustomerMethods) -> None:
        """Let sessions call the media access API's methods on the public port (not voucher.create)."""
        for name in MediaAccessMethods.CUSTOMER_METHODS:
            customer_methods.allow(name)

    async def follow_payments(self) -> None:
        """The periodic job: provider renewals, refunds and lapses move subscriptions."""
        await self.bridge.run_once()


def build_media(
    config: MediaAccessInputs,
    db: Engine,
    registry: MethodRegistry,
    clock: Callable[[], float] = time.time,
) -> Media:
    settings = config.media_access
    products = Catalog(config.products).products
    terms = media_terms(products, settings.item_groups)
    access = Access(db, terms, clock, cache_ttl=settings.itemstate_cache_ttl)
    changed = access.forget
    currencies = config.commerce.currencies()
    issuer = ReceiptIssuer(config.commerce, products, currencies)
    transactions = Transactions(
        db,
        products,
        terms,
        settings.default_subscription,
        settings.prepare_ttl,
        currencies,
        clock,
        on_change=changed,
        receipts=issuer,
        max_prepared_amount=settings.max_prepared_amount,
    )
    subscriptions = Subscriptions(
        db, terms, settings.default_subscription, clock, on_change=changed, receipts=issuer
    )
    vouchers = VoucherStore(db, terms, currencies, clock)
    limiter = AttemptLimiter(
        db, settings.voucher_failures, settings.voucher_failure_window, clock=clock
    )
    inapp = InAppVerification(db, registry, terms, clock, on_change=changed)
    methods = MediaAccessMethods(
        access=access,
        transactions=transactions,
        subscriptions=subscriptions,
        vouchers=vouchers,
        limiter=limiter,
        inapp=inapp,
        products=products,
        currencies=currencies,
        registry=registry,
    )
    methods.register(registry)
    return Media(
        access,
        transactions,
        subscriptions,
        vouchers,
        methods,
        PaymentBridge(db, terms, clock, on_change=changed),
        sells_media=bool(terms),
    )

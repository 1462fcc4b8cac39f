"""Verifying one purchase with Google: fetch, check, record, acknowledge.

Shared by ``payment.validateGooglePlay`` and the notifications: both ask Google for the
purchase's current state and never trust what the app or the push says about it.
"""

from __future__ import annotations

import time

import structlog

from xbtcpay.plugin_api import Origin, Payment, Recorded
from xbtcpay_googleplay.api import PlayApi
from xbtcpay_googleplay.ledger import Ledger
from xbtcpay_googleplay.purchase import Purchase, Refused, from_product, from_subscription

log = structlog.get_logger("xbtcpay.plugins.googleplay")
DAY_MS = 86_400_000
MAX_PAGES = 50


class Verifier:
    """Fetches purchases from the Play Developer API and records the valid ones."""

    def __init__(self, api: PlayApi, ledger: Ledger, allow_test_purchases: bool) -> None:
        self.api = api
        self.ledger = ledger
        self.allow_test_purchases = allow_test_purchases

    async def fetch(self, kind: str, product_id: str | None, token: str) -> Purchase:
        """The purchase as Google reports it now (``kind``: product or subscription)."""
        if kind == "subscription":
            return from_subscription(token, product_id, await self.api.subscription(token))
        assert product_id is not None
        return from_product(token, product_id, await self.api.product(product_id, token))

    async def settle(self, purchase: Purchase, origin: Origin) -> Recorded:
        """Record a purchase Google reports as paid, then acknowledge it; Refused otherwise."""
        self.check_test(purchase)
        if purchase.kind == "product" and purchase.state != "purchased":
            raise Refused(f"purchase is {purchase.state}")
        if purchase.expired(int(time.time() * 1000)):
            raise Refused(f"subscription is not active ({purchase.state})")
        if purchase.order_id is None and purchase.kind == "subscription":
            raise Refused("subscription has no paid order yet")
        recorded = await self.ledger.record(purchase, origin)
        await self.acknowledge(purchase)
        return recorded

    def check_test(self, purchase: Purchase) -> None:
        """Refused for a license tester's purchase unless the settings allow them."""
        if purchase.test and not self.allow_test_purchases:
            raise Refused("test purchase refused (allow_test_purchases is off)")

    async def acknowledge(self, purchase: Purchase) -> None:
        """Acknowledge once Google says it is not acknowledged (it refunds after 3 days)."""
        if purchase.acknowledged or purchase.consumed:
            return
        if purchase.kind == "subscription":
            await self.api.acknowledge_subscription(purchase.product_id, purchase.token)
        else:
            await self.api.acknowledge_product(purchase.product_id, purchase.token)
        log.info(
            "googleplay.acknowledged", product_id=purchase.product_id, order_id=purchase.order_id
        )

    async def refunded_units(self, payment: Payment) -> int | None:
        """Units of a multi-unit one-time purchase refunded so far (quantity-based refunds)."""
        token, product_id = payment.extra.get("purchaseToken"), payment.extra.get("productId")
        if not isinstance(token, str) or not isinstance(product_id, str):
            return None
        purchase = await self.fetch("product", product_id, token)
        if purchase.refundable_quantity is None:
            return None
        return purchase.quantity - purchase.refundable_quantity

    async def confirms_void(self, payment: Payment, since_ms: int) -> bool:
        """True when Google itself reports the purchase of ``payment`` voided.

        A push's body is not covered by its token's signature, so a void is acted on only
        once Google's API says so: the one-time purchase is canceled or has fewer refundable
        units than it had, or the subscription order is in ``voidedpurchases.list``.
        """
        token, product_id = payment.extra.get("purchaseToken"), payment.extra.get("productId")
        if not isinstance(token, str) or not isinstance(product_id, str):
            return False
        if payment.extra.get("kind") == "product":
            purchase = await self.fetch("product", product_id, token)
            return purchase.state == "canceled" or (
                purchase.refundable_quantity is not None
                and purchase.refundable_quantity < purchase.quantity
            )
        page: str | None = None
        for _ in range(MAX_PAGES):
            answer = await self.api.voided(since_ms, page)
            for item in answer.get("voidedPurchases") or []:
                if isinstance(item, dict) and item.get("orderId") == payment.provider_ref:
                    return True
            page = (answer.get("tokenPagination") or {}).get("nextPageToken")
            if not page:
                return False
        return False

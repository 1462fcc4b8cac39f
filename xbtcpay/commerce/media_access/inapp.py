"""payment.verifyinapptransaction: a store receipt verified by the store's plugin, turned
into a subscription or an entitlement once per store transaction.

io -> the App Store plugin (``payment.validateAppStore``), go -> the Google Play plugin
(``payment.validateGooglePlay``), am -> not supported.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from typing import Any

import structlog

from xbtcpay.commerce.media_access import granting, subscription_store
from xbtcpay.commerce.media_access import params as media_params
from xbtcpay.commerce.media_access.errors import ProviderUnavailable, ProviderUnsupported
from xbtcpay.commerce.media_access.products import Terms
from xbtcpay.core.errors import Conflict, ConstraintViolation, InvalidParams
from xbtcpay.core.persistence import Engine, UnitOfWork
from xbtcpay.core.registry import MethodRegistry
from xbtcpay.plugin_api import CallContext

log = structlog.get_logger("xbtcpay.commerce.inapp")
STORE_METHODS = {
    "io": ("payment.validateAppStore", "appstore"),
    "go": ("payment.validateGooglePlay", "googleplay"),
}


def store_params(provider: str, receipt: str, customer: str) -> dict[str, Any]:
    """The store plugin's parameters for the media access API's ``receipt``. Google Play: the purchase
    JSON the app received (``purchaseToken``, ``productId``)."""
    if provider == "io":
        return {"receipt": receipt, "customer": customer}
    try:
        purchase = json.loads(receipt)
    except ValueError:
        purchase = None
    if (
        not isinstance(purchase, dict)
        or not isinstance(purchase.get("purchaseToken"), str)
        or not isinstance(purchase.get("productId"), str)
    ):
        raise InvalidParams("receipt: for go, the purchase JSON with purchaseToken and productId")
    return {
        "purchase_token": purchase["purchaseToken"],
        "product_id": purchase["productId"],
        "customer": customer,
    }


def store_facts(
    provider: str, answer: Mapping[str, Any], receipt: str
) -> tuple[str, str, int | None]:
    """(store transaction id, the subscription's id at the store, expiry in seconds)."""
    if provider == "io":
        store_tx = str(answer.get("transactionId"))
        original = str(answer.get("originalTransactionId") or store_tx)
        expires = answer.get("expiresDate")
    else:
        token = str(json.loads(receipt)["purchaseToken"])
        store_tx, original = str(answer.get("orderId") or token), token
        expires = answer.get("expiryTime")
    return store_tx, original, int(expires) // 1000 if isinstance(expires, int) else None


class InAppVerification:
    def __init__(
        self,
        db: Engine,
        registry: MethodRegistry,
        terms: Mapping[str, Terms],
        clock: Callable[[], float] = time.time,
        on_change: Callable[[str], None] | None = None,
    ) -> None:
        self.db = db
        self.registry = registry
        self.terms = terms
        self.clock = clock
        self.on_change = on_change or (lambda customer: None)

    async def verify(
        self, customer: str, req: media_params.VerifyInApp, call: CallContext
    ) -> dict[str, Any]:
        if req.provider not in STORE_METHODS:
            raise ProviderUnsupported(
                f"{req.provider}: Amazon in-app purchases are not supported by this processor"
            )
        method, plugin = STORE_METHODS[req.provider]
        if method not in self.registry.names():
            raise ProviderUnavailable(f"{req.provider}: the {plugin} plugin is not enabled")
        answer = await self.registry.call(
            method, store_params(req.provider, req.receipt, customer), call
        )
        if not answer.get("valid"):
            raise InvalidParams(f"receipt refused: {answer.get('reason', 'not valid')}")
        product = answer.get("product")
        terms = self.terms.get(product) if isinstance(product, str) else None
        if terms is None or terms.kind != req.operation:
            raise InvalidParams(f"the store product is not a {req.operation} product here")
        store_tx, original, until = store_facts(req.provider, answer, req.receipt)
        record = self._record_op(customer, req, plugin, terms, store_tx, original, until, answer)
        try:
            result: dict[str, Any] = await self.db.transact(record)
        except ConstraintViolation:
            # the same store transaction recorded concurrently: the repeat finds it
            result = await self.db.transact(record)
        self.on_change(customer)
        return result

    def _record_op(
        self,
        customer: str,
        req: media_params.VerifyInApp,
        plugin: str,
        terms: Terms,
        store_tx: str,
        original: str,
        until: int | None,
        answer: Mapping[str, Any],
    ) -> Callable[[UnitOfWork], Any]:
        now = int(self.clock())

        async def op(conn: UnitOfWork) -> dict[str, Any]:
            seen = await conn.fetchone(
                "SELECT id, customer, subscription_id FROM commerce_transactions WHERE"
                " provider = ? AND reference = ?",
                (req.provider, store_tx),
            )
            if seen is not None:
                if seen["customer"] != customer:
                    raise Conflict("this store purchase belongs to another customer")
                return {
                    "transactionID": seen["id"],
                    "duplicate": True,
                    "subscription": seen["subscription_id"],
                }
            sub_id = None
            source = f"{plugin}:{store_tx}"
            if terms.kind == "subscription":
                first = subscription_store.SubPayment(
                    "initial",
                    plugin,
                    store_tx,
                    req.amount if req.amount is not None else 0,
                    str(req.currency or answer.get("currency") or "").upper(),
                )
                sub_id = await self._subscription(
                    conn, customer, terms, plugin, original, until, now, first
                )
            else:
                await granting.grant_entitlement(conn, customer, terms, source, now)
            amount = req.amount if req.amount is not None else 0
            row = await conn.fetchone(
                "INSERT INTO commerce_transactions (customer, operation, product, item,"
                " streamtype, provider, reference, amount_minor, currency, final_minor, state,"
                " subscription_id, created_at, expires_at, finished_at)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?) RETURNING id",
                (
                    customer,
                    req.operation,
                    terms.product,
                    req.item,
                    req.streamtype,
                    req.provider,
                    store_tx,
                    amount,
                    req.currency or str(answer.get("currency")),
                    amount,
                    "finished",
                    sub_id,
                    now,
                    now,
                    now,
                ),
            )
            assert row is not None  # RETURNING answers the inserted row
            return {
                "transactionID": int(row["id"]),
                "duplicate": False,
                "subscription": sub_id,
                "valid_until": until,
            }

        return op

    async def _subscription(
        self,
        conn: UnitOfWork,
        customer: str,
        terms: Terms,
        plugin: str,
        original: str,
        until: int | None,
        now: int,
        first: subscription_store.SubPayment,
    ) -> str:
        """The subscription of the store's ``original`` purchase: created for ``customer`` the
        first time, theirs ever after (a renewal presented by another customer is refused).
        Premium is the store product's (the catalog's), never the app's ``isPremium``."""
        row = await conn.fetchone(subscription_store.SELECT_BY_REF, (plugin, original))
        if row is not None and row["customer"] != customer:
            raise Conflict("this store purchase belongs to another customer")
        if row is None:
            sub = granting.active_subscription(
                customer,
                terms,
                provider=plugin,
                provider_ref=original,
                premium=terms.premium,
                now=now,
                valid_until=until,
                will_renew=True,
            )
            await subscription_store.insert(conn, sub, source=plugin)
            # the first period is a payment of the subscription, as when the payment bridge
            # starts it from the store's payment (whichever of the two comes first)
            await subscription_store.add_payment(conn, sub, first)
            return sub.id
        return str(row["id"])

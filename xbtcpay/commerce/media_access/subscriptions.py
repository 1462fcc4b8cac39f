"""Subscriptions over time: external ones, upgrades, cancellation, provider events, expiry.

Every change goes through ``subscription_store.change`` (compare-and-set + append-only
event); provider events carry a dedupe key so each moves a subscription exactly once.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

import structlog

from xbtcpay.commerce.media_access import granting, pricing, subscription_store
from xbtcpay.commerce.media_access.errors import TransactionRefused
from xbtcpay.commerce.media_access.products import Terms
from xbtcpay.commerce.media_access.subscription import (
    Subscription,
    cancel_at_period_end,
    cancel_now,
    expire,
    renew,
    upgrade,
)
from xbtcpay.commerce.media_access.subscription_receipts import ReceiptIssuer
from xbtcpay.commerce.media_access.subscription_store import (
    AlreadyApplied,
    SubPayment,
    row_to_subscription,
)
from xbtcpay.core.errors import (
    Conflict,
    ConstraintViolation,
    InvalidParams,
    InvalidTransition,
    NotFound,
)
from xbtcpay.core.persistence import Engine, UnitOfWork

log = structlog.get_logger("xbtcpay.commerce.subscriptions")
# How each provider manages a cancellation at period end.
STORE_MANAGED = frozenset({"appstore", "io", "googleplay", "go"})


class Subscriptions:
    """The one writer of subscription state."""

    def __init__(
        self,
        db: Engine,
        terms: Mapping[str, Terms],
        default_subscription: str | None,
        clock: Callable[[], float] = time.time,
        on_change: Callable[[str], None] | None = None,
        receipts: ReceiptIssuer | None = None,
    ) -> None:
        self.db = db
        self.terms = terms
        self.default_subscription = default_subscription
        self.clock = clock
        self.on_change = on_change or (lambda customer: None)
        self.receipts = receipts

    def now(self) -> int:
        return int(self.clock())

    async def get(self, sub_id: str) -> Subscription | None:
        row = await self.db.fetchone("SELECT * FROM subscriptions WHERE id = ?", (sub_id,))
        return row_to_subscription(row) if row else None

    async def for_customer(self, customer: str) -> list[Subscription]:
        rows = await self.db.fetchall(subscription_store.SELECT_BY_CUSTOMER, (customer,))
        return [row_to_subscription(r) for r in rows]

    async def by_provider_ref(self, provider: str, ref: str) -> Subscription | None:
        row = await self.db.fetchone(subscription_store.SELECT_BY_REF, (provider, ref))
        return row_to_subscription(row) if row else None

    async def history(self, sub_id: str) -> dict[str, Any]:
        events = await self.db.fetchall(subscription_store.SELECT_EVENTS, (sub_id,))
        payments = await self.db.fetchall(subscription_store.SELECT_PAYMENTS, (sub_id,))
        return {"events": [dict(r) for r in events], "payments": [dict(r) for r in payments]}

    async def add_external(
        self, customer: str, product: str | None, valid_until: int, premium: bool
    ) -> tuple[int, Subscription]:
        """addexternalsubscription: sold elsewhere, valid until ``valid_until``."""
        name = product or self.default_subscription
        if premium and name is not None:
            name = pricing.premium_counterpart(self.terms, name) or name
        terms = self.terms.get(name) if name else None
        if terms is None or terms.kind != "subscription":
            raise InvalidParams(
                "product must be a subscription product (or set commerce.default_subscription)"
            )
        now = self.now()
        if valid_until <= now:
            raise InvalidParams("validUntil must be in the future")
        sub = granting.active_subscription(
            customer,
            terms,
            provider="external",
            provider_ref=None,
            premium=premium,
            now=now,
            valid_until=valid_until,
        )

        async def op(conn: UnitOfWork) -> int:
            await subscription_store.insert(conn, sub, source="addexternalsubscription")
            row = await conn.fetchone(
                "INSERT INTO commerce_transactions (customer, operation, product, provider,"
                " amount_minor, currency, final_minor, state, subscription_id, created_at,"
                " expires_at, finished_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?) RETURNING id",
                (
                    customer,
                    "subscription",
                    terms.product,
                    "external",
                    0,
                    "XXX",
                    0,
                    "finished",
                    sub.id,
                    now,
                    now,
                    now,
                ),
            )
            assert row is not None  # RETURNING answers the inserted row
            return int(row["id"])

        tx_id = await self.db.transact(op)
        self.on_change(customer)
        return tx_id, sub

    @staticmethod
    async def _of_transaction(conn: UnitOfWork, customer: str, tx_id: int) -> str:
        row = await conn.fetchone(
            "SELECT subscription_id FROM commerce_transactions WHERE id = ? AND customer = ?",
            (tx_id, customer),
        )
        if row is None:
            raise NotFound("unknown transactionID")
        if row["subscription_id"] is None:
            raise InvalidParams("this transaction is not a subscription")
        return str(row["subscription_id"])

    def _upgradable(self, subs: list[Subscription], subscription: str | None) -> Subscription:
        current = [
            s
            for s in subs
            if s.gives_access(self.now()) and (subscription is None or s.id == subscription)
        ]
        basic = [s for s in current if not s.premium]
        if not basic:
            raise TransactionRefused(
                "no running default subscription to upgrade"
                if not current
                else "the subscription is premium already"
            )
        if len(basic) > 1:
            raise InvalidParams("several subscriptions could be upgraded: name subscription")
        return basic[0]

    async def upgrade(
        self, customer: str, reference: str, amount: int, currency: str, subscription: str | None
    ) -> Subscription:
        """upgradesubscription: the customer's default subscription becomes premium; the
        amount is recorded as its own payment (``reference`` = provider's payment id).
        Chosen and changed in one unit of work (reads see every committed write)."""
        now = self.now()

        async def work(conn: UnitOfWork) -> Subscription:
            rows = await conn.fetchall(subscription_store.SELECT_BY_CUSTOMER, (customer,))
            sub = self._upgradable([row_to_subscription(r) for r in rows], subscription)
            premium = pricing.premium_counterpart(self.terms, sub.product) or sub.product

            def rule(s: Subscription) -> Subscription:
                return replace(upgrade(s, now), product=premium)

            payment = SubPayment("upgrade", sub.provider, reference, amount, currency)
            return await subscription_store.change(
                conn,
                sub.id,
                rule,
                "upgrade",
                source="upgradesubscription",
                payment=payment,
                dedupe_key=f"upgrade:{sub.provider}:{reference}",
                receipt=self.receipts,
                customer=customer,
            )

        try:
            after: Subscription = await self.db.transact(work)
        except (AlreadyApplied, ConstraintViolation):
            raise Conflict("transactionID already recorded") from None
        self.on_change(customer)
        return after

    async def cancel(
        self, customer: str, tx_id: int, *, now_: bool, reason: str | None
    ) -> tuple[Subscription, str]:
        """cancelTransaction=0: stop renewing (or end access now when asked)."""
        now = self.now()
        rule = (
            (lambda s: cancel_now(s, now, reason))
            if now_
            else (lambda s: cancel_at_period_end(s, now, reason))
        )

        async def work(conn: UnitOfWork) -> Subscription:
            sub_id = await self._of_transaction(conn, customer, tx_id)
            try:
                return await subscription_store.change(
                    conn,
                    sub_id,
                    rule,
                    "terminate" if now_ else "cancel",
                    source="cancelsubscription",
                    details={"reason": reason},
                    customer=customer,
                )
            except LookupError:
                raise NotFound("unknown transactionID") from None
            except InvalidTransition as exc:
                raise TransactionRefused(f"subscription is {exc.state}") from None

        after: Subscription = await self.db.transact(work)
        self.on_change(customer)
        at_provider = "store_managed" if after.provider in STORE_MANAGED else "requested"
        log.info(
            "subscription.canceled",
            subscription_id=after.id,
            immediately=now_,
            provider=after.provider,
        )
        return after, at_provider

    async def provider_event(
        self,
        provider: str,
        provider_ref: str,
        kind: str,
        *,
        event_id: str,
        payment: SubPayment | None = None,
    ) -> Subscription | None:
        """A provider's renewal / cancellation / expiry / refund, applied exactly once.

        ``kind``: renewed | canceled (at period end) | terminated (now) | expired.
        Returns the changed subscription, or None when unknown or already applied.
        """
        sub = await self.by_provider_ref(provider, provider_ref)
        if sub is None:
            log.warning("subscription.unknown_provider_ref", provider=provider)
            return None
        now = self.now()
        rules: dict[str, Callable[[Subscription], Subscription]] = {
            "renewed": lambda s: renew(s, now),
            "canceled": lambda s: cancel_at_period_end(s, now, "provider"),
            "terminated": lambda s: cancel_now(s, now, "provider"),
            "expired": lambda s: expire(s, now),
        }
        event = {
            "renewed": "renew",
            "canceled": "cancel",
            "terminated": "terminate",
            "expired": "expire",
        }[kind]

        async def work(conn: UnitOfWork) -> Subscription:
            # A provider may send one payment again under a new event id (Stripe: a second
            # invoice.paid for one invoice): the payment, not the event, is the fact.
            if payment is not None and await subscription_store.payment_seen(
                conn, payment.provider, payment.reference
            ):
                raise AlreadyApplied(f"{payment.provider}:{payment.reference}")
            return await subscription_store.change(
                conn,
                sub.id,
                rules[kind],
                event,
                source=provider,
                dedupe_key=f"{provider}:{event_id}",
                payment=payment,
                receipt=self.receipts,
            )

        try:
            after = await self.db.transact(work)
        except (AlreadyApplied, ConstraintViolation):  # same event or payment, maybe concurrent
            return None
        except InvalidTransition:
            log.warning(
                "subscription.event_refused",
                subscription_id=sub.id,
                change=event,
                state=sub.state.value,
            )
            return None
        self.on_change(sub.customer)
        log.info(
            "subscription.provider_event",
            subscription_id=sub.id,
            change=event,
            valid_until=after.valid_until,
        )
        return after

    async def from_plugin(
        self,
        provider: str,
        subscription_ref: str,
        kind: str,
        event_id: str,
        amount_minor: int | None,
        currency: str | None,
        reference: str | None,
    ) -> bool:
        """PluginContext.subscription_event: a provider's word on one of its subscriptions."""
        if kind not in ("renewed", "canceled", "terminated", "expired"):
            log.warning("subscription.unknown_event_kind", provider=provider, kind=kind)
            return False
        payment = None
        if kind == "renewed" and amount_minor is not None and currency:
            payment = SubPayment(
                "renewal", provider, reference or event_id, amount_minor, currency.upper()
            )
        changed = await self.provider_event(
            provider, subscription_ref, kind, event_id=event_id, payment=payment
        )
        return changed is not None

    async def expire_due(self, limit: int = 500) -> int:
        """Move subscriptions whose valid_until passed to expired."""
        now = self.now()
        rows = await self.db.fetchall(subscription_store.SELECT_DUE, (now, limit))
        for row in rows:
            sub = row_to_subscription(row)
            try:
                await self.db.transact(self._expire_op(sub.id, now))
            except InvalidTransition:
                continue
            self.on_change(sub.customer)
        return len(rows)

    @staticmethod
    def _expire_op(sub_id: str, now: int) -> Callable[[UnitOfWork], Any]:
        def op(conn: UnitOfWork) -> Any:
            return subscription_store.change(
                conn, sub_id, lambda s: expire(s, now), "expire", source="expiry"
            )

        return op

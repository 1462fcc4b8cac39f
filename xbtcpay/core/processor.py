"""The one place that creates payments and moves them through the state machine.

``apply`` loads the payment, asks ``xbtcpay.core.state.apply`` for the next state and runs one
unit of work (``xbtcpay.core.persistence``): a compare-and-set on (status, version), the
event, the postback when the shop subscribed to it, then ``transaction_hooks`` and the
caller's ``also`` function, all in the same transaction. Nobody else writes payment state.
The payment rows and the postback outbox are reached only through the repositories handed
to the constructor (storage implements them).
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace
from decimal import Decimal
from typing import Any

import structlog

from xbtcpay.core.errors import Conflict, ConstraintViolation, InvalidTransition, NotFound
from xbtcpay.core.handlers import PaymentHandlers
from xbtcpay.core.models import CRYPTO, ApplyResult, NewPayment, Payment, PaymentEvent
from xbtcpay.core.persistence import (
    DuplicateEvent,
    EventRow,
    PaymentRepository,
    PostbackOutbox,
    PostbackRow,
    UnitOfWork,
)
from xbtcpay.core.postback import postback_body
from xbtcpay.core.settings import ProcessorSettings
from xbtcpay.core.state import Event, State, apply

log = structlog.get_logger("xbtcpay.processor")
MAX_CAS_RETRIES = 20
# json.dumps(value, default=str) builds an encoder per call; this one writes the same text.
_ENCODE_WITH_STR = json.JSONEncoder(default=str).encode

# Runs inside the unit of work of every creation (before=None, event "created") and
# transition, after the payment, its event and its postback were written.
TransactionHook = Callable[[UnitOfWork, "Payment | None", Payment, str], Awaitable[None]]
# Runs inside one ``apply`` call's unit of work with the payment as it will be committed.
AlsoWork = Callable[[UnitOfWork, Payment], Awaitable[None]]


def new_payment_id() -> str:
    """At least 135 random bits, URL-safe, 23 characters, never starting with "-"
    (so an id is never taken for an option on a command line)."""
    while True:
        candidate = secrets.token_urlsafe(17)
        if not candidate.startswith("-"):
            return candidate


def new_event_id() -> str:
    return "evt_" + secrets.token_hex(12)


def request_hash(new: NewPayment) -> str:
    """Fingerprint of what the shop asked for (order_id idempotency).

    For an invoice priced in fiat that is the price, its currency and the assets named, not
    the quoted amounts: a retry a minute later meets another rate and is still the same
    request."""
    invoice = new.extra.get("invoice")
    asked: list[Any] = [new.asset, format(new.amount.normalize(), "f")]
    if isinstance(invoice, dict):
        asked = [invoice.get("price"), invoice.get("currency"), invoice.get("assets")]
    fields = [
        new.method,
        *asked,
        new.data,
        new.postback_url,
        new.expires_in,
        new.product,
        new.customer,
    ]
    return hashlib.sha256(_ENCODE_WITH_STR(fields).encode()).hexdigest()


class PaymentProcessor:
    """Creates payments and applies events to them."""

    def __init__(
        self,
        config: ProcessorSettings,
        store: PaymentRepository,
        outbox: PostbackOutbox,
        *,
        handlers: PaymentHandlers | None = None,
        clock: Callable[[], float] = time.time,
        on_postback: Callable[[], None] = lambda: None,
        on_transition: Callable[[Payment, str], None] = lambda p, e: None,
    ) -> None:
        self.config = config
        self.store = store
        self.outbox = outbox
        self.handlers = handlers or PaymentHandlers()
        self.clock = clock
        self.on_postback = on_postback
        self.on_transition = on_transition
        self.transaction_hooks: list[TransactionHook] = []

    def now(self) -> int:
        return int(self.clock())

    async def create(self, new: NewPayment) -> Payment:
        """Persist a new payment (crypto payments get the next xpub address).

        A retried ``order_id`` answers its payment (Conflict if the request differs); a
        ``(method, provider_ref)`` already recorded answers that payment."""
        digest = request_hash(new)
        if new.order_id is not None:
            existing = await self.store.get_by_order_id(new.order_id)
            if existing is not None:
                return self._same_order(existing, digest)
        now = self.now() if new.created_at is None else new.created_at
        expires_in = new.expires_in
        if expires_in is None and new.method == CRYPTO:
            expires_in = self.config.payments.expire_after
        payment = Payment(
            id=new_payment_id(),
            method=new.method,
            asset=new.asset,
            amount=new.amount,
            status=State.NEW,
            created_at=now,
            data=new.data,
            postback_url=new.postback_url,
            postback_events=new.postback_events,
            order_id=new.order_id,
            request_hash=digest,
            product=new.product,
            customer=new.customer,
            provider_ref=new.provider_ref,
            expires_at=None if expires_in is None else now + expires_in,
            extra=new.extra,
            updated_at=now,
        )
        event = EventRow(
            new_event_id(),
            "created",
            None,
            State.NEW.value,
            now,
            new.method,
            None,
            {"amount": format(new.amount, "f"), "asset": new.asset},
        )
        plan = self.handlers.deposit_plan(new.method, new.asset)
        if plan is None and new.method == CRYPTO:
            raise RuntimeError("crypto payments need a wallet xpub")
        derive, first_index = (None, 0) if plan is None else (plan.address, plan.first_index)
        try:
            created = await self.store.insert(
                payment, event, derive, first_index, hooks=[self._creation_hook]
            )
        except ConstraintViolation:
            existing = await self._existing(new, digest)
            if existing is None:
                raise
            return existing
        log.info(
            "payment.created",
            payment_id=created.id,
            method=created.method,
            asset=created.asset,
            amount=format(created.amount, "f"),
            address=created.address,
            order_id=created.order_id,
        )
        self.on_transition(created, "created")
        return created

    async def _creation_hook(self, uow: UnitOfWork, created: Payment) -> None:
        for hook in self.transaction_hooks:
            await hook(uow, None, created, "created")

    async def _existing(self, new: NewPayment, digest: str) -> Payment | None:
        """The payment whose unique key refused ``new``: a retried order_id, or a provider
        reference (one provider transaction, one payment) recorded by an earlier or a
        concurrent delivery; None when neither explains the refusal."""
        if new.order_id is not None:
            existing = await self.store.get_by_order_id(new.order_id)
            if existing is not None:
                return self._same_order(existing, digest)
        if new.provider_ref is not None:
            existing = await self.store.get_by_provider_ref(new.method, new.provider_ref)
            if existing is not None:
                log.info(
                    "payment.provider_ref_exists", payment_id=existing.id, method=existing.method
                )
                return existing
        return None

    @staticmethod
    def _same_order(existing: Payment, digest: str) -> Payment:
        if existing.request_hash != digest:
            raise Conflict("order_id already used with different parameters")
        return existing

    async def get(self, payment_id: str) -> Payment:
        payment = await self.store.get(payment_id)
        if payment is None:
            raise NotFound("unknown payment")
        return payment

    async def apply(
        self, payment_id: str, event: PaymentEvent, *, also: AlsoWork | None = None
    ) -> ApplyResult:
        """Apply ``event``; idempotent on ``event.dedupe_key``; refused transitions are no-ops.

        ``also`` writes the caller's own rows in the transition's unit of work: they commit
        with it, or roll back with it (an exception from ``also`` is re-raised here)."""
        for _ in range(MAX_CAS_RETRIES):
            payment = await self.get(payment_id)
            if event.dedupe_key and await self.store.dedupe_seen(event.dedupe_key):
                return ApplyResult(payment, changed=False, duplicate=True)
            try:
                target = apply(payment.status, event.kind)
            except InvalidTransition:
                log.info(
                    "payment.transition_refused",
                    payment_id=payment.id,
                    state=payment.status.value,
                    on=event.kind.value,
                    source=event.source,
                )
                return ApplyResult(payment, changed=False)
            changes = self._changes(payment, event, target)
            if not changes and target == payment.status and not event.dedupe_key:
                return ApplyResult(payment, changed=False)
            result = await self._persist(payment, event, target, changes, also)
            if result is not None:
                return result
        raise Conflict("payment is being changed concurrently; retry")

    async def _persist(
        self,
        payment: Payment,
        event: PaymentEvent,
        target: State,
        changes: dict[str, Any],
        also: AlsoWork | None,
    ) -> ApplyResult | None:
        now = self.now()
        changes = {**changes, "status": target, "updated_at": now}
        updated = replace(payment, **changes, version=payment.version + 1)
        event_name = self._event_name(payment, event, updated)
        row = EventRow(
            new_event_id(),
            event_name,
            payment.status.value,
            target.value,
            event.at or now,
            event.source,
            event.dedupe_key,
            _details(event),
        )
        postback = self._postback(updated, event_name, row.event_id)

        async def work(uow: UnitOfWork) -> bool:
            if not await self.store.compare_and_set(uow, payment, changes):
                return False
            await self.store.append_event(uow, payment.id, row)
            if postback is not None:
                await self.outbox.enqueue(uow, payment.id, postback)
            for hook in self.transaction_hooks:
                await hook(uow, payment, updated, event_name)
            if also is not None:
                await also(uow, updated)
            return True

        try:
            ok = await self.store.engine.transact(work)
        except DuplicateEvent:
            return ApplyResult(await self.get(payment.id), changed=False, duplicate=True)
        if not ok:
            return None
        log_method = log.critical if event.kind == Event.REORGED else log.info
        log_method(
            "payment." + event_name,
            payment_id=payment.id,
            from_state=payment.status.value,
            to_state=target.value,
            event_id=row.event_id,
            source=event.source,
            tx_hash=updated.tx_hash,
            amount_received=format(updated.amount_received, "f"),
            late=updated.late,
            overpaid=updated.overpaid,
        )
        if postback is not None:
            self.on_postback()
        self.on_transition(updated, event_name)
        return ApplyResult(updated, changed=True, event_id=row.event_id)

    async def revise(
        self,
        payment_id: str,
        name: str,
        revision: Callable[[Payment], Mapping[str, Any] | None],
        source: str,
    ) -> Payment | None:
        """Change a payment's terms without changing its state (an invoice's new quote):
        ``revision(payment)`` gives the column changes, or None when the payment is no
        longer to be revised (it is asked again after a lost compare-and-set). The change
        is logged as event ``name`` with the changes as details; no postback is sent.
        Returns the revised payment, or None when nothing was changed."""
        for _ in range(MAX_CAS_RETRIES):
            payment = await self.get(payment_id)
            wanted = revision(payment)
            if not wanted:
                return None
            now = self.now()
            changes = {**wanted, "updated_at": now}
            updated = replace(payment, **changes, version=payment.version + 1)
            details = {
                k: format(v, "f") if isinstance(v, Decimal) else v
                for k, v in wanted.items()
                if k != "extra"
            }
            row = EventRow(
                new_event_id(),
                name,
                payment.status.value,
                payment.status.value,
                now,
                source,
                None,
                details,
            )
            if await self._revised(payment, changes, row):
                log.info("payment." + name, payment_id=payment.id, source=source, **details)
                self.on_transition(updated, name)
                return updated
        raise Conflict("payment is being changed concurrently; retry")

    async def _revised(self, payment: Payment, changes: dict[str, Any], row: EventRow) -> bool:
        """One compare-and-set of a revision with its event row; False when it lost."""

        async def work(uow: UnitOfWork) -> bool:
            if not await self.store.compare_and_set(uow, payment, changes):
                return False
            await self.store.append_event(uow, payment.id, row)
            return True

        return await self.store.engine.transact(work)

    def _changes(self, p: Payment, e: PaymentEvent, target: State) -> dict[str, Any]:
        """Column updates implied by the event (pure)."""
        at = e.at or self.now()
        c: dict[str, Any] = {}
        for name in (
            "amount_received",
            "amount_refunded",
            "tx_hash",
            "tx_block",
            "provider_ref",
            "reason",
            "asset",
            "amount",
        ):
            value = getattr(e, name)
            if value is not None and value != getattr(p, name):
                c[name] = value
        if e.extra:
            c["extra"] = {**p.extra, **e.extra}
        received = c.get("amount_received", p.amount_received)
        if target in (State.SEEN, State.PAID) and p.seen_at is None:
            c["seen_at"] = at
        if e.kind == Event.UNSEEN:
            c.update(seen_at=None, tx_hash=None, tx_block=None)
        if e.kind == Event.PAID:
            c["paid_at"] = at
            if p.status == State.EXPIRED:
                c["late"] = True
        if p.method == CRYPTO and received > c.get("amount", p.amount) and not p.overpaid:
            c["overpaid"] = True
        if e.kind == Event.REORGED:
            c["reorged"] = True
        if e.kind == Event.DISPUTE_WON:
            c["reason"] = e.reason
        return c

    @staticmethod
    def _event_name(before: Payment, event: PaymentEvent, after: Payment) -> str:
        return event.kind.value

    def _postback(self, p: Payment, event_name: str, event_id: str) -> PostbackRow | None:
        if not p.postback_url:
            return None
        subscribed = p.postback_events or self.config.postback.events
        if event_name not in subscribed:
            return None
        body = postback_body(p, event_name, event_id)
        return PostbackRow(event_id, event_name, p.postback_url, body, self.clock())


def _details(e: PaymentEvent) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in (
        "amount_received",
        "amount_refunded",
        "tx_hash",
        "tx_block",
        "provider_ref",
        "reason",
        "asset",
        "amount",
    ):
        value = getattr(e, name)
        if value is not None:
            out[name] = format(value, "f") if isinstance(value, Decimal) else value
    if e.extra:
        out["extra"] = dict(e.extra)
    return out

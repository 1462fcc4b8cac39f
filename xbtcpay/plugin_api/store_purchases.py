"""Store purchases: one payment per provider reference, however often the store tells of it.

An app store speaks of one purchase several ways (the app's receipt, a server notification,
a poll) and often at the same moment. Each must land on the same payment: the plugin's
payment with the store's reference is found, else created; when two deliveries race, the
core's unique key on (plugin, provider reference) refuses the second insert and the loser
reads the winner's payment, so nobody is credited twice and no delivery fails for it.

What stays in a plugin (its ``StoreLedger`` subclass) is what is truly its store's: which
reference names a purchase, the amount and product it is owed (``Due``), the event that pays
it, and where to look for a subscription's earlier payment.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Generic, Protocol, TypeVar

from xbtcpay.core.errors import Conflict, InvalidParams
from xbtcpay.core.models import NewPayment, Payment, PaymentEvent
from xbtcpay.core.params import data_text, postback_url
from xbtcpay.core.state import Event, State
from xbtcpay.plugin_api.interface import PluginContext


@dataclass(frozen=True)
class Origin:
    """Who a payment belongs to and where its postbacks go."""

    customer: str | None = None
    data: str = "null"
    postback_url: str | None = None
    renewal_of: str | None = None  # our id of the subscription's earlier payment

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> Origin:
        """The origin a shop states when it asks to validate a purchase: ``customer``,
        ``data`` and ``postback_url`` (InvalidParams when one is unusable)."""
        customer = params.get("customer")
        if customer is not None and (not isinstance(customer, str) or len(customer) > 256):
            raise InvalidParams("customer must be a string of at most 256 characters")
        url = postback_url(params)
        return cls(customer=customer, data=data_text(params.get("data")), postback_url=url)


@dataclass(frozen=True)
class Due:
    """What a store purchase's payment is created with (the store's facts go in ``extra``)."""

    product: str
    asset: str
    amount: Decimal
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Recorded:
    """The payment a purchase was recorded on; ``duplicate`` when it was recorded before."""

    payment: Payment
    duplicate: bool

    def summary(self) -> dict[str, Any]:
        """The payment's part of a validation answer (the store adds its own facts)."""
        p = self.payment
        return {
            "id": p.id,
            "duplicate": self.duplicate,
            "status": p.status.value,
            "product": p.product,
            "amount": format(p.amount, "f"),
            "currency": p.asset,
        }


class StorePurchase(Protocol):
    """What the SDK needs of a store's verified purchase: the facts kept on its payment."""

    def facts(self) -> dict[str, Any]: ...


P = TypeVar("P", bound=StorePurchase)


class StoreLedger(ABC, Generic[P]):
    """Records one store's purchases, one payment per provider reference.

    A plugin subclasses it and says only what is its store's: the reference that names a
    purchase (``ref_of``), what its payment is owed (``due``), the event that pays it
    (``paid``), the dedupe key of a lapse (``lapse_key``) and, optionally, who owns a payment
    (``owner``). ``payable`` are the states in which a recorded purchase still reports its
    paid event; a payment past them answers as a duplicate.
    """

    payable: frozenset[State] = frozenset({State.NEW})

    def __init__(self, ctx: PluginContext) -> None:
        self.ctx = ctx

    @abstractmethod
    def ref_of(self, purchase: P) -> str:
        """The provider reference of ``purchase``'s payment."""

    @abstractmethod
    def due(self, purchase: P, facts: Mapping[str, Any]) -> Due:
        """What a new payment for ``purchase`` is created with (raise to refuse it)."""

    @abstractmethod
    def paid(self, payment: Payment, purchase: P, facts: Mapping[str, Any]) -> PaymentEvent:
        """The event that pays ``payment`` (or says why it does not)."""

    @abstractmethod
    def lapse_key(self, kind: Event, ref: str) -> str:
        """The dedupe key of a lapse ``kind`` of the payment of ``ref``."""

    def owner(self, origin: Origin, purchase: P) -> Origin:
        """Whom a new payment for ``purchase`` belongs to: ``origin`` unless a store knows better."""
        return origin

    def earlier_refs(self, purchase: P) -> tuple[str, ...]:
        """The references of earlier payments of ``purchase``'s subscription (its first
        purchase): whoever recorded those owns the renewals too. None by default."""
        return ()

    async def check_owner(self, purchase: P, origin: Origin) -> None:
        """Refuse (Conflict, nothing written) a purchase that ``origin``'s customer presents
        but another customer recorded first: the purchase itself or its subscription's
        earlier payment. A delivery that names no customer (a store notification) passes."""
        if origin.customer is None:
            return
        for ref in (self.ref_of(purchase), *self.earlier_refs(purchase)):
            found = await self.ctx.find_payment(ref)
            if found is not None and found.customer not in (None, origin.customer):
                raise Conflict("this store purchase belongs to another customer")

    async def record(
        self, purchase: P, origin: Origin, extra: Mapping[str, Any] | None = None
    ) -> Recorded:
        """The paid payment of ``purchase``: created once, found afterwards; refused for a
        customer other than the one who recorded it (``check_owner``)."""
        await self.check_owner(purchase, origin)
        facts = {**purchase.facts(), **(extra or {})}
        ref = self.ref_of(purchase)
        payment = await self.ctx.find_payment(ref)
        if payment is None:
            payment = await self._create(
                ref, self.owner(origin, purchase), self.due(purchase, facts)
            )
        if payment.status not in self.payable:
            return Recorded(payment, duplicate=True)
        result = await self.ctx.report(payment.id, self.paid(payment, purchase, facts))
        return Recorded(result.payment, duplicate=result.duplicate)

    async def open(
        self, purchase: P, origin: Origin, ref: str, extra: Mapping[str, Any] | None = None
    ) -> Payment:
        """The payment of ``ref``, created for ``purchase`` when absent."""
        found = await self.ctx.find_payment(ref)
        if found is not None:
            return found
        facts = {**purchase.facts(), **(extra or {})}
        return await self._create(ref, self.owner(origin, purchase), self.due(purchase, facts))

    async def lapse(
        self,
        purchase: P,
        origin: Origin,
        kind: Event,
        ref: str,
        reason: str,
        extra: Mapping[str, Any],
    ) -> bool:
        """Record a period that will not be paid (expired, billing failed, canceled) as its
        own payment under ``ref``; True when it changed."""
        payment = await self.open(purchase, origin, ref, extra)
        result = await self.ctx.report(
            payment.id, PaymentEvent(kind, dedupe_key=self.lapse_key(kind, ref), reason=reason)
        )
        return result.changed

    async def earlier_origin(
        self, refs: Iterable[str], fallback_postback: str | None, *, own_ref: str | None = None
    ) -> Origin:
        """The origin of the first earlier payment among ``refs`` (a subscription's first
        purchase, a pending purchase), so later payments reach the same shop account; it is
        a renewal of that payment unless found under ``own_ref``, the purchase's own."""
        for ref in refs:
            earlier = await self.ctx.find_payment(ref)
            if earlier is not None:
                return Origin(
                    earlier.customer,
                    earlier.data,
                    earlier.postback_url or fallback_postback,
                    None if ref == own_ref else earlier.id,
                )
        return Origin(postback_url=fallback_postback)

    async def _create(self, ref: str, origin: Origin, due: Due) -> Payment:
        extra = dict(due.extra)
        if origin.renewal_of:
            extra["renewal_of"] = origin.renewal_of
        new = NewPayment(
            method=self.ctx.name,
            asset=due.asset,
            amount=due.amount,
            data=origin.data,
            postback_url=origin.postback_url,
            product=due.product,
            customer=origin.customer,
            provider_ref=ref,
            extra=extra,
        )
        try:
            return await self.ctx.create_payment(new)
        except Exception:
            # Two deliveries of the same purchase raced; the other one created it.
            found = await self.ctx.find_payment(ref)
            if found is None:
                raise
            return found


def epoch_seconds(ms: int | None) -> int | None:
    """A store's millisecond timestamp as the whole seconds a ``PaymentEvent.at`` takes."""
    return None if ms is None else int(ms) // 1000

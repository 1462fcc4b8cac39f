"""Store purchases: one payment per provider reference, however often the store tells of it.

An app store speaks of one purchase several ways (the app's receipt, a server notification,
a poll) and often at the same moment. Each must land on the same payment: the plugin's
payment with the store's reference is found, else created; when two deliveries race, the
core's unique key on (plugin, provider reference) refuses the second insert and the loser
reads the winner's payment, so nobody is credited twice and no delivery fails for it.

What stays in a plugin is what is truly its store's: which reference names a purchase, the
amount and product it is owed (``Due``), and the event that pays it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from xbtcpay.core.models import NewPayment, Payment, PaymentEvent
from xbtcpay.core.state import State
from xbtcpay.plugin_api.interface import PluginContext


@dataclass(frozen=True)
class Origin:
    """Who a payment belongs to and where its postbacks go."""

    customer: str | None = None
    data: str = "null"
    postback_url: str | None = None
    renewal_of: str | None = None  # our id of the subscription's earlier payment


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


DueFunction = Callable[[], Due]
PaidFunction = Callable[[Payment], PaymentEvent]


class StorePurchases:
    """The payments of one store plugin, one per provider reference.

    ``payable`` are the states in which a recorded purchase still reports its paid event; a
    payment past them (paid, refunded, or for some stores already seen) answers as a
    duplicate.
    """

    def __init__(self, ctx: PluginContext, *, payable: frozenset[State]) -> None:
        self.ctx = ctx
        self.payable = payable

    async def find_or_create(self, ref: str, origin: Origin, due: DueFunction) -> Payment:
        """The payment of ``ref``; created from ``due()`` (which may refuse) when absent."""
        found = await self.ctx.find_payment(ref)
        if found is not None:
            return found
        return await self._create(ref, origin, due())

    async def record(
        self, ref: str, origin: Origin, due: DueFunction, paid: PaidFunction
    ) -> Recorded:
        """The payment of ``ref``, found or created, and paid once with ``paid(payment)``."""
        payment = await self.ctx.find_payment(ref)
        if payment is None:
            payment = await self._create(ref, origin, due())
        if payment.status not in self.payable:
            return Recorded(payment, duplicate=True)
        result = await self.ctx.report(payment.id, paid(payment))
        return Recorded(result.payment, duplicate=result.duplicate)

    async def record_event(
        self, ref: str, origin: Origin, due: DueFunction, event: PaymentEvent
    ) -> bool:
        """Report ``event`` on the payment of ``ref`` (created when absent), e.g. a renewal
        that did not happen; True when the payment changed."""
        payment = await self.find_or_create(ref, origin, due)
        result = await self.ctx.report(payment.id, event)
        return result.changed

    async def origin_of(
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

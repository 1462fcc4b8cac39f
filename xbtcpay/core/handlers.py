"""Payment method handlers: how the core is paid in one way (BTCPay's IPaymentMethodHandler).

The core knows payments, not chains. Everything specific to one way of being paid, for the
payments the core itself creates, is behind a handler: which method and assets it serves,
how a new payment gets its deposit address, the payment URI a wallet opens, and the jobs
the leader replica runs to follow that method's payments (a chain watcher). The built-in
crypto method is one handler per configured chain (``xbtcpay.chain.handler``); a second
chain is a second handler, never a special case here.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Protocol

from xbtcpay.core.models import ApplyResult, Payment, PaymentEvent
from xbtcpay.core.persistence import UnitOfWork

LeaderJob = tuple[str, Callable[[], Awaitable[None]]]


@dataclass(frozen=True)
class DepositPlan:
    """How the store gives a new payment its deposit address, inside the insert's unit of
    work: the next free derivation index (from ``first_index`` on) and its address."""

    first_index: int
    address: Callable[[int], str]


class PaymentDriver(Protocol):
    """What a handler's jobs need of the processor: read payments, apply events."""

    def now(self) -> int: ...

    async def get(self, payment_id: str) -> Payment: ...

    async def apply(
        self,
        payment_id: str,
        event: PaymentEvent,
        *,
        also: Callable[[UnitOfWork, Payment], Awaitable[None]] | None = None,
    ) -> ApplyResult: ...


class PaymentMethodHandler(Protocol):
    """One way of being paid for the payments the core creates."""

    method: str

    def serves(self, asset: str) -> bool:
        """Whether payments of ``asset`` by ``method`` are this handler's."""

    def deposit_plan(self) -> DepositPlan | None:
        """How a new payment gets its deposit address; None when it cannot get one now
        (no wallet configured)."""

    def payment_uri(self, payment: Payment) -> str | None:
        """The URI a wallet opens to pay what is still outstanding (None: nothing to open)."""

    def leader_jobs(self, payments: PaymentDriver) -> list[LeaderJob]:
        """The jobs that follow this method's payments; run by the leader replica only."""


class PaymentHandlers:
    """The configured handlers, asked by method and asset."""

    def __init__(self, handlers: Iterable[PaymentMethodHandler] = ()) -> None:
        self._handlers = list(handlers)

    def __iter__(self) -> Iterator[PaymentMethodHandler]:
        return iter(self._handlers)

    def find(self, method: str, asset: str) -> PaymentMethodHandler | None:
        for handler in self._handlers:
            if handler.method == method and handler.serves(asset):
                return handler
        return None

    def deposit_plan(self, method: str, asset: str) -> DepositPlan | None:
        handler = self.find(method, asset)
        return None if handler is None else handler.deposit_plan()

    def payment_uri(self, payment: Payment) -> str | None:
        handler = self.find(payment.method, payment.asset)
        return None if handler is None else handler.payment_uri(payment)

    def leader_jobs(self, payments: PaymentDriver) -> list[LeaderJob]:
        return [job for handler in self._handlers for job in handler.leader_jobs(payments)]

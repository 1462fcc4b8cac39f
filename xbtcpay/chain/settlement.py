"""From a payment and its deposits to the one event that moves it towards the right state.

Pure, no I/O. The deposits table is the source of truth: the watcher recomputes a payment
from all of its deposits after every checkpoint and applies ``next_event`` until it returns
None. Repeating this is harmless, so a crash between the checkpoint and the events only
delays them.

Rules
    total received      sum of every deposit (several transfers add up)
    completing deposit  the first deposit, in chain order, at which the running sum reaches
                        the amount; its transaction is the payment's ``tx_hash``
    confirmed           the completing deposit's block B has ``head - B + 1 >= confirmations``
                        (or B <= the node's finalized block with ``confirmations: finalized``)
    tolerance           an invoice priced in fiat is paid at its amount less ``tolerance``
                        percent; paid short of the whole amount, it is flagged ``underpaid``
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal, localcontext

from xbtcpay.chain.deposits import Deposit
from xbtcpay.core.amounts import from_base_units, to_base_units
from xbtcpay.core.models import Payment, PaymentEvent
from xbtcpay.core.state import Event, State

SOURCE = "watcher"


@dataclass(frozen=True)
class Threshold:
    """When a deposit counts as confirmed: ``confirmations`` deep, or at/below ``finalized``."""

    head: int
    confirmations: int | None  # None: use the finalized block
    finalized: int | None = None

    def confirmed(self, block: int) -> bool:
        """True when a deposit in ``block`` has enough confirmations."""
        if self.confirmations is None:
            return self.finalized is not None and block <= self.finalized
        return self.head - block + 1 >= self.confirmations


@dataclass(frozen=True)
class Rules:
    """What ``next_event`` needs besides the payment and its deposits."""

    decimals: int
    threshold: Threshold
    now: int
    late_window: int
    tolerance: Decimal = Decimal(0)  # percent an invoice priced in fiat may lack and be paid

    def due_units(self, amount: Decimal) -> int:
        """Base units that pay ``amount``: all of it, less the tolerance (rounded in the
        payment's favour: the customer never has to send less than this)."""
        units = to_base_units(amount, self.decimals)
        if not self.tolerance:
            return units
        with localcontext() as ctx:
            ctx.prec = 80
            slack = int((units * self.tolerance / 100).to_integral_value(ROUND_FLOOR))
        return units - slack


def ordered(deposits: Sequence[Deposit]) -> list[Deposit]:
    """Deposits in chain order (block, then position inside the block)."""
    return sorted(deposits, key=lambda d: (d.block_number, d.position, d.key))


def completing(deposits: Sequence[Deposit], amount_units: int) -> Deposit | None:
    """The deposit at which the running total first reaches ``amount_units``."""
    running = 0
    for deposit in ordered(deposits):
        running += deposit.units
        if running >= amount_units:
            return deposit
    return None


def next_event(p: Payment, deposits: Sequence[Deposit], rules: Rules) -> PaymentEvent | None:
    """The event that brings ``p`` closer to what its deposits say, or None when it agrees."""
    total = sum(d.units for d in deposits)
    received = from_base_units(total, rules.decimals)
    amount_units = rules.due_units(p.amount)
    done = completing(deposits, amount_units)
    confirmed = done is not None and rules.threshold.confirmed(done.block_number)
    reference = done or (ordered(deposits)[-1] if deposits else None)

    def event(kind: Event) -> PaymentEvent:
        short = kind == Event.PAID and received < p.amount  # paid inside the tolerance
        return PaymentEvent(
            kind,
            amount_received=received,
            source=SOURCE,
            tx_hash=reference.tx_hash if reference else None,
            tx_block=reference.block_number if reference else None,
            extra={"underpaid": True} if short else {},
        )

    if p.status == State.NEW:
        return event(Event.SEEN) if total > 0 else None
    if p.status == State.SEEN:
        if total == 0:
            return PaymentEvent(Event.UNSEEN, amount_received=Decimal(0), source=SOURCE)
        if confirmed:
            return event(Event.PAID)
        return event(Event.RECEIVED) if _differs(p, received, reference) else None
    if p.status == State.EXPIRED:
        in_window = p.expires_at is None or rules.now <= p.expires_at + rules.late_window
        if confirmed and in_window:
            return event(Event.PAID)
        return event(Event.RECEIVED) if received != p.amount_received else None
    if p.status == State.PAID:
        if total < amount_units:
            if p.reorged and received == p.amount_received:
                return None
            return PaymentEvent(
                Event.REORGED,
                amount_received=received,
                source=SOURCE,
                reason="a chain reorganisation removed confirmed funds",
            )
        # a reorg may move the paying transfer to another block or transaction: follow it
        return event(Event.RECEIVED) if _differs(p, received, reference) else None
    return None


def _differs(p: Payment, received: Decimal, reference: Deposit | None) -> bool:
    if received != p.amount_received:
        return True
    if reference is None:
        return False
    if reference.tx_hash is not None and reference.tx_hash != p.tx_hash:
        return True
    return reference.block_number != p.tx_block

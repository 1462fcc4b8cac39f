"""The payment state machine: one literal table, no I/O.

``apply(state, event)`` returns the next state or raises ``InvalidTransition``.
The processor (``xbtcpay.core.processor``) is the only caller that persists the result.

States
    new                 created, nothing seen yet
    seen                funds seen (crypto: in a block, not yet confirmed, or underpaid;
                        fiat: authorised)
    paid                confirmed in full (flags on the payment: late, overpaid, reorged)
    expired             deadline passed before payment (amount_received shows partial funds)
    canceled            canceled by the shop or the provider before payment
    failed              the provider declined or failed the payment
    refunded            refunded in full
    partially_refunded  refunded in part, the rest stays paid
    disputed            the payer opened a dispute
    charged_back        the dispute was lost / the provider took the funds back
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final

from xbtcpay.core.errors import InvalidTransition


class State(StrEnum):
    NEW = "new"
    SEEN = "seen"
    PAID = "paid"
    EXPIRED = "expired"
    CANCELED = "canceled"
    FAILED = "failed"
    REFUNDED = "refunded"
    PARTIALLY_REFUNDED = "partially_refunded"
    DISPUTED = "disputed"
    CHARGED_BACK = "charged_back"


class Event(StrEnum):
    SEEN = "seen"  # first funds / authorisation seen
    UNSEEN = "unseen"  # a reorg removed every funds seen so far
    RECEIVED = "received"  # more funds seen, not yet enough (amount_received changes)
    PAID = "paid"  # confirmed in full
    EXPIRED = "expired"  # deadline passed
    CANCELED = "canceled"
    FAILED = "failed"
    REFUNDED = "refunded"
    PARTIALLY_REFUNDED = "partially_refunded"
    DISPUTED = "disputed"
    DISPUTE_WON = "dispute_won"
    CHARGED_BACK = "charged_back"
    REORGED = "reorged"  # a deep reorg removed funds of a paid payment: flagged, reported


S, E = State, Event

# (state, event) -> next state. Self-loops record facts without changing the state.
TRANSITIONS: Final[dict[tuple[State, Event], State]] = {
    (S.NEW, E.SEEN): S.SEEN,
    (S.NEW, E.PAID): S.PAID,
    (S.NEW, E.EXPIRED): S.EXPIRED,
    (S.NEW, E.CANCELED): S.CANCELED,
    (S.NEW, E.FAILED): S.FAILED,
    (S.SEEN, E.RECEIVED): S.SEEN,
    (S.SEEN, E.UNSEEN): S.NEW,
    (S.SEEN, E.PAID): S.PAID,
    (S.SEEN, E.EXPIRED): S.EXPIRED,
    (S.SEEN, E.CANCELED): S.CANCELED,
    (S.SEEN, E.FAILED): S.FAILED,
    (S.EXPIRED, E.RECEIVED): S.EXPIRED,
    (S.EXPIRED, E.PAID): S.PAID,  # paid late: flagged ``late`` by the processor
    (S.FAILED, E.PAID): S.PAID,  # a retried fiat payment can still succeed
    (S.PAID, E.REORGED): S.PAID,
    (S.PAID, E.RECEIVED): S.PAID,  # overpayment after paid: flagged ``overpaid``
    (S.PAID, E.REFUNDED): S.REFUNDED,
    (S.PAID, E.PARTIALLY_REFUNDED): S.PARTIALLY_REFUNDED,
    (S.PAID, E.DISPUTED): S.DISPUTED,
    (S.PAID, E.CHARGED_BACK): S.CHARGED_BACK,
    (S.PARTIALLY_REFUNDED, E.PARTIALLY_REFUNDED): S.PARTIALLY_REFUNDED,
    (S.PARTIALLY_REFUNDED, E.REFUNDED): S.REFUNDED,
    (S.PARTIALLY_REFUNDED, E.DISPUTED): S.DISPUTED,
    (S.PARTIALLY_REFUNDED, E.CHARGED_BACK): S.CHARGED_BACK,
    (S.DISPUTED, E.DISPUTE_WON): S.PAID,
    (S.DISPUTED, E.CHARGED_BACK): S.CHARGED_BACK,
    (S.DISPUTED, E.REFUNDED): S.REFUNDED,
}

# States in which the chain watcher still looks for funds.
OPEN_STATES: Final[frozenset[State]] = frozenset({S.NEW, S.SEEN})
# States that mean the money arrived (status.json ``paid_at`` is set).
PAID_STATES: Final[frozenset[State]] = frozenset(
    {S.PAID, S.REFUNDED, S.PARTIALLY_REFUNDED, S.DISPUTED, S.CHARGED_BACK}
)


def apply(state: State | str, event: Event | str) -> State:
    """Return the state reached from ``state`` on ``event``, or raise InvalidTransition."""
    try:
        return TRANSITIONS[(State(state), Event(event))]
    except (KeyError, ValueError):
        raise InvalidTransition(str(state), str(event)) from None


def transitions_markdown() -> str:
    """The table as the Markdown table README.md shows (one row per state, in table order)."""
    rows = ["| state | event -> next state |", "|---|---|"]
    for state in State:
        steps = [f"`{e.value}` -> `{d.value}`" for (s, e), d in TRANSITIONS.items() if s == state]
        rows.append(f"| `{state.value}` | {', '.join(steps) or 'final'} |")
    return "\n".join(rows)


def can_apply(state: State | str, event: Event | str) -> bool:
    """True when the table has a transition for (state, event)."""
    try:
        apply(state, event)
    except InvalidTransition:
        return False
    return True

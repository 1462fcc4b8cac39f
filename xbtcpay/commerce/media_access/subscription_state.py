"""The subscription state machine: one literal table, no I/O.

``apply(state, event)`` returns the next state or raises ``InvalidTransition``. The
subscription store (``xbtcpay.commerce.media_access.subscription_store``) is the only writer of the state
and persists it with a compare-and-set on the previous state.

States
    pending     prepared (``payment.preparetransaction``), not finished yet: no access
    active      paid and running; renews when ``will_renew``
    canceled    stops renewing; access continues until ``valid_until``
    expired     ``valid_until`` passed without a renewal (or a prepared one was never finished)
    terminated  access ended now (canceled now, refunded, revoked by the store)
    failed      the original payment failed while being processed
    deleted     a failed or never finished one, removed by ``cancelTransaction=1``
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final

from xbtcpay.core.errors import InvalidTransition


class SubState(StrEnum):
    PENDING = "pending"
    ACTIVE = "active"
    CANCELED = "canceled"
    EXPIRED = "expired"
    TERMINATED = "terminated"
    FAILED = "failed"
    DELETED = "deleted"


class SubEvent(StrEnum):
    FINISH = "finish"  # the prepared payment finished: the first period starts
    RENEW = "renew"  # a further period was paid (provider renewal)
    UPGRADE = "upgrade"  # default -> premium, timings unchanged
    CANCEL = "cancel"  # stop renewing, keep access until valid_until
    TERMINATE = "terminate"  # end access now (cancel now, refund, revoked)
    EXPIRE = "expire"  # valid_until passed / prepared one never finished
    FAIL = "fail"  # the original payment failed
    DELETE = "delete"  # cancelTransaction=1 on a failed or unfinished one


S, E = SubState, SubEvent

# (state, event) -> next state. Self-loops record facts (a renewal, an upgrade).
TRANSITIONS: Final[dict[tuple[SubState, SubEvent], SubState]] = {
    (S.PENDING, E.FINISH): S.ACTIVE,
    (S.PENDING, E.FAIL): S.FAILED,
    (S.PENDING, E.EXPIRE): S.EXPIRED,
    (S.PENDING, E.DELETE): S.DELETED,
    (S.ACTIVE, E.RENEW): S.ACTIVE,
    (S.ACTIVE, E.UPGRADE): S.ACTIVE,
    (S.ACTIVE, E.CANCEL): S.CANCELED,
    (S.ACTIVE, E.TERMINATE): S.TERMINATED,
    (S.ACTIVE, E.EXPIRE): S.EXPIRED,
    (S.CANCELED, E.UPGRADE): S.CANCELED,
    (S.CANCELED, E.TERMINATE): S.TERMINATED,
    (S.CANCELED, E.EXPIRE): S.EXPIRED,
    (S.EXPIRED, E.RENEW): S.ACTIVE,  # only when can_renew (subscription.renew)
    (S.EXPIRED, E.DELETE): S.DELETED,  # a prepared one never finished (never started)
    (S.FAILED, E.DELETE): S.DELETED,
}

# States in which the subscription may still give access (until valid_until).
ACCESS_STATES: Final[frozenset[SubState]] = frozenset({S.ACTIVE, S.CANCELED})
# States that are over for good.
FINAL_STATES: Final[frozenset[SubState]] = frozenset({S.TERMINATED, S.DELETED})


def apply(state: SubState | str, event: SubEvent | str) -> SubState:
    """Return the state reached from ``state`` on ``event``, or raise InvalidTransition."""
    try:
        return TRANSITIONS[(SubState(state), SubEvent(event))]
    except (KeyError, ValueError):
        raise InvalidTransition(str(state), str(event)) from None


def can_apply(state: SubState | str, event: SubEvent | str) -> bool:
    """True when the table has a transition for (state, event)."""
    try:
        apply(state, event)
    except InvalidTransition:
        return False
    return True

"""The subscription record and its pure rules (no I/O; the clock is always a parameter).

Periods are calendar months counted from an anchor: period ``n`` ends at
``add_months(anchor_at, n * duration_months)``, so a subscription started on 31 January
renews on 28/29 February, 31 March, 30 April, ... without drifting to the 28th.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from xbtcpay.commerce.media_access.subscription_state import (
    ACCESS_STATES,
    SubEvent,
    SubState,
    apply,
)
from xbtcpay.core.errors import InvalidParams


@dataclass(frozen=True)
class Subscription:
    """One customer's subscription to one catalog product."""

    id: str
    customer: str
    product: str
    provider: str  # stripe | braintree | appstore | googleplay | external | voucher
    provider_ref: str | None
    state: SubState
    premium: bool
    duration_months: int
    anchor_at: int | None  # start of the first period of the current run
    periods: int  # periods paid since anchor_at
    valid_until: int | None  # access ends here (exclusive)
    will_renew: bool
    can_renew: bool
    paid_monthly: bool
    capture_on: int | None  # trial: the payment is captured at this time
    created_at: int
    updated_at: int
    canceled_at: int | None = None
    reason: str | None = None
    version: int = 0

    def gives_access(self, now: int) -> bool:
        """Active or canceled-but-still-valid at ``now``."""
        return (
            self.state in ACCESS_STATES and self.valid_until is not None and now < self.valid_until
        )


def add_months(ts: int, months: int) -> int:
    """``ts`` moved by ``months`` calendar months in UTC; the day is clamped to the month."""
    when = datetime.fromtimestamp(ts, UTC)
    index = when.year * 12 + when.month - 1 + months
    year, month = divmod(index, 12)
    day = min(when.day, calendar.monthrange(year, month + 1)[1])
    return int(when.replace(year=year, month=month + 1, day=day).timestamp())


def _moved(sub: Subscription, event: SubEvent, now: int, **changes: object) -> Subscription:
    state = apply(sub.state, event)
    return replace(sub, state=state, updated_at=now, **changes)  # type: ignore[arg-type]


def activate(sub: Subscription, now: int) -> Subscription:
    """The prepared subscription is paid: its first period starts now."""
    return _moved(
        sub,
        SubEvent.FINISH,
        now,
        anchor_at=now,
        periods=1,
        valid_until=add_months(now, sub.duration_months),
    )


def renew(sub: Subscription, now: int) -> Subscription:
    """One more period paid. Continues the anchor while the subscription is still valid;
    an expired one (``can_renew`` required) starts a new run at ``now``."""
    if sub.state is SubState.EXPIRED and not sub.can_renew:
        raise InvalidParams("this subscription cannot be renewed after expiry")
    anchor, periods = sub.anchor_at, sub.periods + 1
    if anchor is None or sub.valid_until is None or sub.valid_until < now:
        anchor, periods = now, 1
    until = add_months(anchor, periods * sub.duration_months)
    return _moved(sub, SubEvent.RENEW, now, anchor_at=anchor, periods=periods, valid_until=until)


def upgrade(sub: Subscription, now: int) -> Subscription:
    """Default -> premium without changing the timings."""
    if sub.premium:
        raise InvalidParams("the subscription is premium already")
    return _moved(sub, SubEvent.UPGRADE, now, premium=True)


def cancel_at_period_end(sub: Subscription, now: int, reason: str | None) -> Subscription:
    """Stop renewing; access continues until ``valid_until``."""
    return _moved(sub, SubEvent.CANCEL, now, will_renew=False, canceled_at=now, reason=reason)


def cancel_now(sub: Subscription, now: int, reason: str | None) -> Subscription:
    """End access now (also used for refunds and store revocations)."""
    until = now if sub.valid_until is None else min(sub.valid_until, now)
    return _moved(
        sub,
        SubEvent.TERMINATE,
        now,
        will_renew=False,
        canceled_at=now,
        valid_until=until,
        reason=reason,
    )


def expire(sub: Subscription, now: int) -> Subscription:
    """``valid_until`` passed without a renewal (or a prepared one was never finished, or
    the store says it expired early): access ends now at the latest."""
    until = None if sub.valid_until is None else min(sub.valid_until, now)
    return _moved(sub, SubEvent.EXPIRE, now, will_renew=False, valid_until=until)


def delete(sub: Subscription, now: int) -> Subscription:
    """cancelTransaction=1: a subscription whose original payment never completed."""
    if sub.anchor_at is not None:
        raise InvalidParams("the subscription was paid; cancel it with cancelTransaction=0")
    return _moved(sub, SubEvent.DELETE, now, will_renew=False)


def fail(sub: Subscription, now: int, reason: str | None) -> Subscription:
    """The original payment failed."""
    return _moved(sub, SubEvent.FAIL, now, will_renew=False, reason=reason)


def is_due_to_expire(sub: Subscription, now: int) -> bool:
    """True when the expiry job should move ``sub`` to expired."""
    return sub.state in ACCESS_STATES and sub.valid_until is not None and sub.valid_until <= now

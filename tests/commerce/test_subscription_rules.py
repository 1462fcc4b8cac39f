"""Pure subscription rules: calendar months, renewals, upgrade, cancel at period end vs now."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from xbtcpay.commerce.media_access.subscription import (
    Subscription,
    activate,
    add_months,
    cancel_at_period_end,
    cancel_now,
    delete,
    expire,
    is_due_to_expire,
    renew,
    upgrade,
)
from xbtcpay.commerce.media_access.subscription_state import SubState
from xbtcpay.core.errors import InvalidParams, InvalidTransition


def ts(y: int, m: int, d: int, h: int = 12) -> int:
    return int(datetime(y, m, d, h, tzinfo=UTC).timestamp())


def pending(months: int = 1, can_renew: bool = True) -> Subscription:
    return Subscription(
        id="sub_1",
        customer="c1",
        product="basic",
        provider="stripe",
        provider_ref="si_1",
        state=SubState.PENDING,
        premium=False,
        duration_months=months,
        anchor_at=None,
        periods=0,
        valid_until=None,
        will_renew=True,
        can_renew=can_renew,
        paid_monthly=True,
        capture_on=None,
        created_at=ts(2026, 1, 31),
        updated_at=ts(2026, 1, 31),
    )


@pytest.mark.parametrize(
    ("start", "months", "end"),
    [
        ((2026, 1, 31), 1, (2026, 2, 28)),
        ((2028, 1, 31), 1, (2028, 2, 29)),  # leap year
        ((2026, 3, 31), 1, (2026, 4, 30)),
        ((2026, 12, 15), 1, (2027, 1, 15)),
        ((2026, 5, 31), 12, (2027, 5, 31)),
        ((2026, 8, 31), 6, (2027, 2, 28)),
    ],
)
def test_add_months_is_calendar_months(
    start: tuple[int, int, int], months: int, end: tuple[int, int, int]
) -> None:
    assert add_months(ts(*start), months) == ts(*end)


def test_renewals_follow_the_anchor_without_drifting() -> None:
    sub = activate(pending(), ts(2026, 1, 31))
    assert sub.state is SubState.ACTIVE and sub.valid_until == ts(2026, 2, 28)
    sub = renew(sub, ts(2026, 2, 27))
    assert sub.valid_until == ts(2026, 3, 31)  # not 28 March
    sub = renew(sub, ts(2026, 3, 30))
    assert sub.valid_until == ts(2026, 4, 30)
    assert sub.periods == 3 and sub.anchor_at == ts(2026, 1, 31)


def test_upgrade_keeps_the_timings() -> None:
    sub = activate(pending(), ts(2026, 1, 31))
    up = upgrade(sub, ts(2026, 2, 10))
    assert up.premium and up.valid_until == sub.valid_until and up.anchor_at == sub.anchor_at
    with pytest.raises(InvalidParams):
        upgrade(up, ts(2026, 2, 11))


def test_cancel_at_period_end_keeps_access_cancel_now_ends_it() -> None:
    sub = activate(pending(), ts(2026, 1, 31))
    later = cancel_at_period_end(sub, ts(2026, 2, 10), "too expensive")
    assert later.state is SubState.CANCELED and not later.will_renew
    assert later.valid_until == sub.valid_until
    assert later.gives_access(ts(2026, 2, 27)) and not later.gives_access(ts(2026, 2, 28))
    with pytest.raises(InvalidTransition):
        renew(later, ts(2026, 2, 27))
    now = cancel_now(sub, ts(2026, 2, 10), None)
    assert now.state is SubState.TERMINATED and now.valid_until == ts(2026, 2, 10)
    assert not now.gives_access(ts(2026, 2, 10))


def test_expiry_and_renewal_after_expiry() -> None:
    sub = activate(pending(), ts(2026, 1, 31))
    assert not is_due_to_expire(sub, ts(2026, 2, 27)) and is_due_to_expire(sub, ts(2026, 2, 28))
    gone = expire(sub, ts(2026, 3, 5))
    back = renew(gone, ts(2026, 3, 10))
    assert back.state is SubState.ACTIVE and back.valid_until == ts(2026, 4, 10)
    no_renew = expire(activate(pending(can_renew=False), ts(2026, 1, 31)), ts(2026, 3, 1))
    with pytest.raises(InvalidParams):
        renew(no_renew, ts(2026, 3, 2))


def test_delete_only_before_payment() -> None:
    assert delete(pending(), ts(2026, 2, 1)).state is SubState.DELETED
    with pytest.raises(InvalidParams):
        delete(activate(pending(), ts(2026, 1, 31)), ts(2026, 2, 1))

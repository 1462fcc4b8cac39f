"""The subscription state table against a literal list of what it must allow and refuse."""

from __future__ import annotations

import pytest

from xbtcpay.commerce.media_access.subscription_state import SubEvent, SubState, apply, can_apply
from xbtcpay.core.errors import InvalidTransition

EXPECTED = {
    ("pending", "finish"): "active",
    ("pending", "fail"): "failed",
    ("pending", "expire"): "expired",
    ("pending", "delete"): "deleted",
    ("active", "renew"): "active",
    ("active", "upgrade"): "active",
    ("active", "cancel"): "canceled",
    ("active", "terminate"): "terminated",
    ("active", "expire"): "expired",
    ("canceled", "upgrade"): "canceled",
    ("canceled", "terminate"): "terminated",
    ("canceled", "expire"): "expired",
    ("expired", "renew"): "active",
    ("expired", "delete"): "deleted",
    ("failed", "delete"): "deleted",
}

REFUSED_EXAMPLES = [
    ("pending", "renew"),  # a prepared one is finished, not renewed
    ("pending", "cancel"),
    ("canceled", "renew"),  # a canceled one stops renewing
    ("canceled", "cancel"),
    ("active", "finish"),  # finishing twice
    ("active", "delete"),  # cancelTransaction=1 on a paid subscription
    ("terminated", "renew"),
    ("terminated", "upgrade"),
    ("deleted", "finish"),
    ("expired", "upgrade"),
]


def test_the_table_is_exactly_the_expected_list() -> None:
    for state in SubState:
        for event in SubEvent:
            key = (state.value, event.value)
            if key in EXPECTED:
                assert apply(state, event) == SubState(EXPECTED[key]), key
            else:
                with pytest.raises(InvalidTransition):
                    apply(state, event)


@pytest.mark.parametrize(("state", "event"), REFUSED_EXAMPLES)
def test_refusals(state: str, event: str) -> None:
    assert not can_apply(state, event)


def test_the_states_the_issue_names_exist() -> None:
    assert {"pending", "active", "canceled", "expired", "terminated"} <= {s.value for s in SubState}


def test_unknown_names_are_refused() -> None:
    with pytest.raises(InvalidTransition):
        apply("bogus", "renew")
    with pytest.raises(InvalidTransition):
        apply("active", "bogus")

"""The state table, walked whole."""

from __future__ import annotations

import pytest

from xbtcpay.errors import InvalidTransition
from xbtcpay.state import OPEN_STATES, PAID_STATES, TRANSITIONS, Event, State, apply, can_apply


def test_every_pair_either_transitions_or_raises() -> None:
    for state in State:
        for event in Event:
            if (state, event) in TRANSITIONS:
                assert apply(state, event) == TRANSITIONS[(state, event)]
            else:
                with pytest.raises(InvalidTransition):
                    apply(state, event)


def test_every_state_is_reachable_from_new() -> None:
    reached, frontier = {State.NEW}, [State.NEW]
    while frontier:
        current = frontier.pop()
        for (src, _), dst in TRANSITIONS.items():
            if src == current and dst not in reached:
                reached.add(dst)
                frontier.append(dst)
    assert reached == set(State)


def test_core_crypto_path_and_late_payment() -> None:
    assert apply("new", "seen") == State.SEEN
    assert apply("seen", "paid") == State.PAID
    assert apply("seen", "unseen") == State.NEW
    assert apply("expired", "paid") == State.PAID
    assert not can_apply("paid", "expired")
    assert not can_apply("canceled", "paid")
    assert not can_apply("refunded", "paid")


def test_unknown_names_are_refused() -> None:
    with pytest.raises(InvalidTransition):
        apply("nonsense", "paid")
    with pytest.raises(InvalidTransition):
        apply("new", "nonsense")


def test_open_and_paid_sets_are_disjoint() -> None:
    assert not OPEN_STATES & PAID_STATES

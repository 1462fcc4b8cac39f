"""The state table, walked whole."""

from __future__ import annotations

from pathlib import Path

import pytest

from xbtcpay.core.errors import InvalidTransition
from xbtcpay.core.state import (
    OPEN_STATES,
    PAID_STATES,
    TRANSITIONS,
    Event,
    State,
    apply,
    can_apply,
    transitions_markdown,
)

# Written out by hand from the product's rules, not derived from the table under test.
EXPECTED = [
    ("new", "seen", "seen"),
    ("new", "paid", "paid"),
    ("new", "expired", "expired"),
    ("new", "canceled", "canceled"),
    ("new", "failed", "failed"),
    ("seen", "received", "seen"),
    ("seen", "unseen", "new"),
    ("seen", "paid", "paid"),
    ("seen", "expired", "expired"),
    ("seen", "canceled", "canceled"),
    ("seen", "failed", "failed"),
    ("expired", "received", "expired"),
    ("expired", "paid", "paid"),
    ("failed", "paid", "paid"),
    ("paid", "reorged", "paid"),
    ("paid", "received", "paid"),
    ("paid", "refunded", "refunded"),
    ("paid", "partially_refunded", "partially_refunded"),
    ("paid", "disputed", "disputed"),
    ("paid", "charged_back", "charged_back"),
    ("partially_refunded", "partially_refunded", "partially_refunded"),
    ("partially_refunded", "refunded", "refunded"),
    ("partially_refunded", "disputed", "disputed"),
    ("partially_refunded", "charged_back", "charged_back"),
    ("disputed", "dispute_won", "paid"),
    ("disputed", "charged_back", "charged_back"),
    ("disputed", "refunded", "refunded"),
]

# What each state must refuse, named by the harm a silent acceptance would do.
MUST_REFUSE = {
    "new": [
        "received",
        "unseen",
        "refunded",
        "disputed",
        "dispute_won",
        "charged_back",
        "reorged",
    ],  # no refund or dispute of money never received
    "seen": ["seen", "refunded", "disputed", "charged_back", "reorged"],
    "expired": ["canceled", "seen", "expired", "failed", "refunded"],  # late funds stay payable
    "canceled": ["paid", "seen", "received", "canceled", "expired", "refunded"],
    "failed": ["canceled", "failed", "refunded", "disputed", "seen"],
    "paid": ["paid", "seen", "expired", "canceled", "failed", "unseen", "dispute_won"],
    "refunded": [
        "paid",
        "refunded",
        "partially_refunded",
        "disputed",
        "dispute_won",
        "charged_back",
        "canceled",
        "received",
    ],
    "partially_refunded": ["paid", "expired", "canceled", "dispute_won", "seen"],
    "disputed": ["paid", "disputed", "partially_refunded", "canceled", "expired", "received"],
    "charged_back": ["paid", "refunded", "dispute_won", "disputed", "charged_back", "canceled"],
}


def test_transitions_are_exactly_the_expected_list() -> None:
    table = sorted((s.value, e.value, d.value) for (s, e), d in TRANSITIONS.items())
    assert table == sorted(EXPECTED)


def test_every_pair_either_transitions_or_raises() -> None:
    expected = {(s, e): d for s, e, d in EXPECTED}
    for state in State:
        for event in Event:
            if (state.value, event.value) in expected:
                assert apply(state, event) == State(expected[(state.value, event.value)])
            else:
                with pytest.raises(InvalidTransition):
                    apply(state, event)


@pytest.mark.parametrize("state", [s.value for s in State])
def test_every_state_refuses_what_it_must(state: str) -> None:
    refused = MUST_REFUSE[state]
    assert refused, state
    for event in refused:
        assert not can_apply(state, event), (state, event)
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
    assert set(MUST_REFUSE) == {s.value for s in State}


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


def test_readme_state_list_is_the_table() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    shown = readme.split("<!-- states:begin -->\n")[1].split("\n<!-- states:end -->")[0]
    assert shown == transitions_markdown(), (
        "README.md's state list differs from xbtcpay/state.py; paste this between the "
        "states markers:\n" + transitions_markdown()
    )

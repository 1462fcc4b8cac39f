"""Node health rules: a url is stale when it lags the best head, or its head stands still."""

from __future__ import annotations

from xbtcpay.chain.health import NodeHealth

A, B = "http://a.example", "http://b.example"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_url_behind_the_best_by_more_than_max_lag_blocks_is_stale_until_it_catches_up() -> None:
    clock = Clock()
    health = NodeHealth((A, B), max_lag_blocks=5, stale_after=60, clock=clock)
    health.observe(A, 100)
    health.observe(B, 95)
    health.evaluate()
    assert health.stale_urls == [] and not health.all_stale  # 5 behind: within the limit
    health.observe(A, 101)
    health.evaluate()
    assert health.stale_urls == [B] and not health.all_stale
    health.observe(B, 99)
    health.evaluate()
    assert health.stale_urls == []


def test_a_head_that_does_not_move_for_stale_after_is_stale() -> None:
    clock = Clock()
    health = NodeHealth((A,), stale_after=5, clock=clock)
    health.observe(A, 10)
    clock.now += 5
    health.observe(A, 10)
    health.evaluate()
    assert not health.all_stale  # exactly stale_after: not yet
    clock.now += 0.5
    health.observe(A, 10)
    health.evaluate()
    assert health.all_stale and health.stale_urls == [A]
    assert health.head_age() == 5.5
    health.observe(A, 11)  # it moves again
    health.evaluate()
    assert not health.all_stale and health.head_age() == 0


def test_defaults_follow_the_block_time_learnt_from_the_chain() -> None:
    clock = Clock()
    health = NodeHealth((A, B), clock=clock)
    for number in range(100, 104):  # a block every 0.25 s
        health.observe(A, number)
        health.observe(B, number)
        health.evaluate()
        clock.now += 0.25
    assert health.block_time == 0.25
    assert health.lag_limit() == 240  # about 60 s of blocks
    assert health.age_limit() == 2.5  # 10 block times
    assert health.stale_urls == []
    clock.now += 2.6  # both stand still at 103 for more than 10 block times
    health.observe(A, 103)
    health.evaluate()
    assert health.stale_urls == [A, B] and health.all_stale


def test_nothing_is_stale_by_age_before_the_block_time_is_known() -> None:
    clock = Clock()
    health = NodeHealth((A,), clock=clock)
    health.observe(A, 7)
    clock.now += 3600
    health.evaluate()
    assert health.age_limit() is None and not health.all_stale


def test_a_url_that_never_answered_is_stale_once_the_others_could_have() -> None:
    clock = Clock()
    health = NodeHealth((A, B), stale_after=5, clock=clock)
    health.observe(A, 50)
    health.evaluate()
    assert health.stale_urls == []
    clock.now += 6
    health.observe(A, 51)
    health.evaluate()
    assert health.stale_urls == [B] and not health.all_stale

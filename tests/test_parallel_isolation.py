"""The suite runs in parallel test processes (pytest-xdist workers, one pass per engine):
what one process hands out, no other may hand out at the same time."""

from __future__ import annotations

import pytest

from tests import harness


@pytest.mark.parametrize("workers", [1, 2, 3, 8])
def test_every_engine_and_worker_draws_ports_from_a_slice_of_its_own(
    workers: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    slices = []
    for engine in ("sqlite", "postgresql"):
        for worker in range(workers):
            monkeypatch.setenv("XBTCPAY_TEST_DATABASE", engine)
            monkeypatch.setenv("PYTEST_XDIST_WORKER", f"gw{worker}")
            monkeypatch.setenv("PYTEST_XDIST_WORKER_COUNT", str(workers))
            slices.append(set(harness.port_slice(32768)))
    ports = [port for s in slices for port in s]
    assert len(ports) == len(set(ports)), "two processes share a port"
    assert min(ports) >= 10_000 and max(ports) < 32768  # below the ephemeral range
    assert all(len(s) >= 1000 for s in slices)


def test_free_port_hands_out_distinct_ports_from_this_process_slice() -> None:
    handed = [harness.free_port() for _ in range(50)]
    assert len(set(handed)) == len(handed)
    assert set(handed) <= set(harness.port_slice(harness.ephemeral_low()))

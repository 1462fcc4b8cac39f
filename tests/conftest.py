"""Shared fixtures. Chain fixtures (one anvil per session) live in tests/fixtures/chain.py;
the database engine of the run (SQLite or PostgreSQL) is chosen in tests/pg.py.

With ``XBTCPAY_NO_SKIPS=1`` (set by .ci/run) a skipped test is reported as a failure: CI
installs every prerequisite, so a skip there means a test silently stopped running.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from tests import pg
from tests.harness import PostbackReceiver, free_port
from xbtcpay.storage.pg_server import PgServer


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if (
        report.skipped
        and os.environ.get("XBTCPAY_NO_SKIPS") == "1"
        and not hasattr(report, "wasxfail")
    ):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = f"skipped, but XBTCPAY_NO_SKIPS=1 forbids skips: {reason}"


@pytest.fixture
async def receiver() -> AsyncIterator[PostbackReceiver]:
    async with PostbackReceiver() as r:
        yield r


@pytest.fixture(scope="session", autouse=True)
def database_server() -> Iterator[PgServer | None]:
    """On a PostgreSQL run: one throwaway server for the session (removed at the end)."""
    if not pg.on_postgresql():
        yield None
        return
    # fsync off: a flush to the disk guards against the machine losing power, which no test
    # does; a server stopped (even ``immediate``) or a daemon killed loses nothing without it
    server = PgServer(free_port(), fsync=False).start()
    os.environ[pg.PORT_ENV] = str(server.port)
    try:
        yield server
    finally:
        os.environ.pop(pg.PORT_ENV, None)
        server.stop()


@pytest.fixture(scope="session")
def postgres(database_server: PgServer | None) -> Iterator[PgServer]:
    """A PostgreSQL server for tests that need one on any run (db copy, replicas): the
    session's server on a PostgreSQL run, else one started for them."""
    if database_server is not None:
        yield database_server
        return
    server = PgServer(free_port()).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(autouse=True)
def fresh_databases(database_server: PgServer | None) -> Iterator[None]:
    """Each test's databases are dropped when it ends."""
    mark = pg.created()
    yield
    if database_server is not None:
        pg.drop_databases(mark)


_OTHER_PASS = pytest.StashKey[list[str]]()


# Scenario tests that run for many seconds each (a real daemon process, the chain, sweeps,
# fault injection). Under pytest-xdist they are handed out first, the ``slow``-marked ones (a
# minute or more) before the others, so the run does not end with one worker still busy on a
# long scenario while the other has nothing left to do. ``make test`` hands out one test at a
# time (``--maxschedchunk=1``): xdist's default first chunk (a quarter of a worker's share,
# consecutive) would give every slow test to the first worker.
SCENARIOS = ("tests/reliability/", "tests/sweep/", "tests/test_bench_smoke.py", "tests/test_dev.py")


def _start_order(item: pytest.Item) -> int:
    if item.get_closest_marker("slow"):
        return 0
    return 1 if item.nodeid.startswith(SCENARIOS) else 2


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get("PYTEST_XDIST_WORKER"):  # a plain run keeps the files' order
        items.sort(key=_start_order)  # stable: the same order on every worker
    _deselect_other_pass(config, items)


def _deselect_other_pass(config: pytest.Config, items: list[pytest.Item]) -> None:
    """``make test`` runs the suite twice, once per engine. A test belongs to one pass only
    when the other pass would run it the same way or not at all:

    - ``sqlite_only``: it tests SQLite itself (its file, its pragmas);
    - ``sqlite_pass``: it starts its own engines, never the run's (the benchmarks' quick
      runs), so the SQLite pass runs it;
    - any test using the ``postgres`` fixture: all its databases are PostgreSQL ones it
      creates itself (replicas, copies, deadlocks), so the PostgreSQL pass runs it.

    Deselected rather than skipped: with ``XBTCPAY_NO_SKIPS=1`` a skip is a failure, and
    these are not tests that stopped running but tests of the other pass. The summary names
    each one with its reason."""
    kept: list[pytest.Item] = []
    deselected: list[pytest.Item] = []
    dropped: list[str] = []
    for item in items:
        reason = _other_pass(item)
        if reason is None:
            kept.append(item)
        else:
            deselected.append(item)
            dropped.append(f"{item.nodeid}: {reason}")
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = kept
    config.stash[_OTHER_PASS] = dropped
    worker_output = getattr(config, "workeroutput", None)  # an xdist worker: tell the controller
    if worker_output is not None:
        worker_output["other_pass"] = dropped


def _other_pass(item: pytest.Item) -> str | None:
    """Why ``item`` runs on the other engine's pass, or None when it runs on this one."""
    on_postgresql = pg.on_postgresql()
    for name, runs_on_postgresql, default in (
        ("sqlite_only", False, "tests SQLite itself"),
        ("sqlite_pass", False, "starts its own engines"),
    ):
        marker = item.get_closest_marker(name)
        if marker is not None and on_postgresql != runs_on_postgresql:
            return str(marker.args[0]) if marker.args else default
    if not on_postgresql and "postgres" in getattr(item, "fixturenames", ()):
        return "runs on PostgreSQL databases of its own (the postgres fixture)"
    return None


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    """The xdist controller collects nothing itself: it lists what its workers deselected
    (each worker collects the whole suite, so one worker's list is the list)."""
    lines = getattr(node, "workeroutput", {}).get("other_pass")
    if lines and not node.config.stash.get(_OTHER_PASS, []):
        node.config.stash[_OTHER_PASS] = list(lines)


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, config: pytest.Config
) -> None:
    lines = config.stash.get(_OTHER_PASS, [])
    if lines:
        engine = "PostgreSQL" if pg.on_postgresql() else "SQLite"
        terminalreporter.section(f"run on the other engine's pass, deselected on {engine}")
        for line in lines:
            terminalreporter.write_line(line)


pytest_plugins = ["tests.fixtures.chain"]

"""Smoke run of every benchmark at tiny sizes: the output is well formed, ratios computed.

Timings are never asserted (they mean nothing at these sizes); what is checked is that each
benchmark ran against its baseline, produced its table, its ratio and a value per target.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bench.chainkit import anvil_available
from bench.loadgen import percentile, summarise
from bench.procs import parse_wrk
from bench.report import Section, Target
from tests.harness import REPO


def quick_run(tmp_path: Path, *benchmarks: str) -> tuple[dict[str, Any], str]:
    """``python -m bench BENCHMARKS --quick``: its JSON results and its standard output."""
    out = tmp_path / "results.json"
    proc = subprocess.run(
        [sys.executable, "-m", "bench", *benchmarks, "--quick", "--json", str(out)]
        + ["--workdir", str(tmp_path / "work")],
        check=False,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    results: dict[str, Any] = json.loads(out.read_text())
    return results, proc.stdout


WRK_OUTPUT = """Running 5s test @ http://127.0.0.1:8080
  1 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     2.01ms  310.00us   9.80ms   90.00%
  Latency Distribution
     50%    1.95ms
     75%    2.10ms
     90%    2.30ms
     99%  850.00us
  81234 requests in 5.00s, 40.12MB read
  Non-2xx or 3xx responses: 12
Requests/sec:  16246.80
Transfer/sec:      8.02MB
"""


def test_parse_wrk_reads_rate_percentiles_and_failures() -> None:
    r = parse_wrk(WRK_OUTPUT, 5.0)
    assert r["rps"] == 16246.8 and r["requests"] == 81234 and r["non_2xx"] == 12
    assert r["p50_ms"] == 1.95 and r["p99_ms"] == 0.85 and r["errors"] == 0
    with pytest.raises(ValueError):
        parse_wrk("garbage", 5.0)


def test_percentiles_and_summary() -> None:
    values = [i / 1000 for i in range(1, 101)]  # 1..100 ms
    assert percentile(values, 0.5) == 0.05 and percentile(values, 0.99) == 0.099
    assert percentile([], 0.5) is None
    from collections import Counter

    s = summarise(values, 2.0, Counter({200: 100, 500: 3}), errors=1, total=104)
    assert s["rps"] == 50.0 and s["p50_ms"] == 50.0 and s["ok"] == 100 and s["errors"] == 1


def test_target_verdicts_and_markdown() -> None:
    assert Target("x", 0.8, ">=", 0.75).met is True
    assert Target("x", 0.7, ">=", 0.75).met is False
    assert Target("x", 250.0, "<=", 200).met is False
    assert Target("x", None, "<=", 200).met is None
    section = Section(
        "s",
        "Title",
        ["a", "b"],
        rows=[["bare", 1234.0]],
        ratios={"r": 0.5},
        targets=[Target("t", 0.5, ">=", 0.75)],
    )
    text = section.markdown("2 cores")
    assert "| bare | 1,234 |" in text
    assert "ratio r: 0.50x" in text and "MISSED" in text and "Machine: 2 cores" in text


@pytest.mark.sqlite_pass("the benchmarks start their own daemons and databases")
@pytest.mark.slow
@pytest.mark.skipif(not anvil_available(), reason="anvil not installed (npm install)")
def test_quick_run_of_every_benchmark(tmp_path: Path) -> None:
    data, stdout = quick_run(tmp_path)
    assert data["machine"]["cores"] == os.cpu_count()
    assert data["machine"]["python"] == sys.version.split()[0]
    sections = {s["name"]: s for s in data["sections"]}
    assert set(sections) == {
        "status",
        "start",
        "memory",
        "watcher_cost",
        "watcher_catchup",
        "watcher_latency",
        "purchase",
        "sse",
        "sse_page",
        "sweep_gas",
        "itemstate",
    }
    for section in sections.values():
        assert section["pending"] is None and section["rows"], section["name"]
        assert section["targets"], section["name"]
        for target in section["targets"]:
            assert isinstance(target["value"], (int, float)) and target["value"] >= 0, target
            assert target["met"] in (True, False)
        for name, ratio in section["ratios"].items():
            assert math.isfinite(ratio) and ratio > 0, (section["name"], name)
    assert "daemon/bare (python)" in sections["status"]["ratios"]
    assert [row[0] for row in sections["status"]["rows"]][:2] == ["bare aiohttp", "xbtcpay daemon"]
    assert all(row[6] == 0 for row in sections["status"]["rows"])  # every answer was 200
    start_rows = sections["start"]["rows"]
    assert start_rows[0][0].startswith("raw aiosqlite") and len(start_rows) == 5
    assert sections["watcher_cost"]["rows"][0][0] == "10"
    assert all(row[5] == 0 for row in sections["itemstate"]["rows"])  # every answer was 200
    catchup = {row[0].split(" (")[0]: row for row in sections["watcher_catchup"]["rows"]}
    assert catchup["watcher poll"][5] == 6  # every paying transfer paid
    assert "## Summary" in stdout and "ratio" in stdout


@pytest.mark.sqlite_pass("the benchmarks start their own daemons and databases")
@pytest.mark.slow
@pytest.mark.skipif(not anvil_available(), reason="anvil not installed (npm install)")
def test_quick_run_of_the_postgresql_benchmark(tmp_path: Path) -> None:
    results, _ = quick_run(tmp_path, "postgres")
    sections = {s["name"]: s for s in results["sections"]}
    assert set(sections) == {"pg_start", "pg_status", "pg_replicas"}
    for section in sections.values():
        assert section["rows"] and section["targets"], section["name"]
        for target in section["targets"]:
            assert isinstance(target["value"], (int, float)) and target["value"] >= 0, target
        for name, ratio in section["ratios"].items():
            assert math.isfinite(ratio) and ratio > 0, (section["name"], name)
    assert sections["pg_start"]["rows"][0][0] == "raw asyncpg, 1 insert per commit"
    assert "calls per block, 3 replicas / 1" in sections["pg_replicas"]["ratios"]
    assert sections["pg_start"]["ratios"]["3 replicas / 1"] > 0
    assert "bare + asyncpg point read" in {row[0] for row in sections["pg_status"]["rows"]}


@pytest.mark.sqlite_pass("the benchmarks start their own daemons and databases")
@pytest.mark.slow
def test_quick_run_of_the_invoice_benchmark(tmp_path: Path) -> None:
    results, _ = quick_run(tmp_path, "invoice")
    [section] = results["sections"]
    assert section["name"] == "invoice"
    engines = {row[0] for row in section["rows"]}
    assert engines == {"SQLite", "PostgreSQL"}
    assert {row[1] for row in section["rows"]} == {"amount (crypto)", "price (USD, quoted)"}
    assert all(row[4] > 0 for row in section["rows"])  # every round created payments
    assert set(section["ratios"]) == {"SQLite: price / amount", "PostgreSQL: price / amount"}
    assert all(math.isfinite(r) and r > 0 for r in section["ratios"].values())
    assert [t["met"] in (True, False) for t in section["targets"]] == [True, True]
    assert not any("failed" in note for note in section["notes"])


@pytest.mark.sqlite_pass("the benchmarks start their own daemons and databases")
@pytest.mark.slow
def test_quick_run_of_the_postgresql_status_part_alone(tmp_path: Path) -> None:
    results, _ = quick_run(tmp_path, "pgstatus")
    (section,) = results["sections"]
    assert section["name"] == "pg_status"
    assert section["columns"][-1] == "server CPU µs/request"
    rows = {row[0]: row for row in section["rows"]}
    for name in (
        "bare + asyncpg point read",
        "bare + asyncpg point read, 5 connections of its own",
    ):
        assert rows[name][2] > 0 and rows[name][5] > 0, rows[name]
    assert rows["xbtcpay daemon on PostgreSQL"][5] > 0
    assert "daemon / bare + point read on its own connections, random ids" in section["ratios"]


@pytest.mark.sqlite_pass("the benchmarks start their own daemons and databases")
@pytest.mark.slow
def test_the_miss_profile_prints_a_row_per_step() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "bench.pg_miss", "--payments", "300", "--reads", "300"],
        check=False,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    steps = [line.split(" | ")[0].strip("| ") for line in proc.stdout.splitlines()[2:]]
    assert "engine.point (daemon's read)" in steps and "row_to_payment" in steps
    assert len(steps) == 11

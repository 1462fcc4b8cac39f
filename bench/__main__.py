"""``python -m bench [status|start|memory|watcher|sse|sweep ...]``: run benchmarks, print ratios.

Every benchmark measures its baseline in the same run on the same machine. Results are
printed as Markdown on stdout (progress goes to stderr); ``--json FILE`` also writes them
as JSON. Targets are reported, never enforced: the exit status is 0 unless a benchmark
failed to run (``--strict`` also fails on a missed target).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import structlog

from bench import (
    chains,
    invoice,
    itemstate,
    memory,
    postgres,
    purchase,
    sse,
    start,
    status,
    sweep,
    watcher,
)
from bench.context import Context, Sizes, say
from bench.report import Section

BENCHMARKS: dict[str, Callable[[Context], Section | list[Section]]] = {
    "status": status.main,
    "start": start.main,
    "memory": memory.main,
    "watcher": watcher.main,
    "chains": chains.main,
    "purchase": purchase.main,
    "sse": sse.main,
    "sweep": sweep.main,
    "itemstate": itemstate.main,
    "postgres": postgres.main,
    "pgstatus": postgres.status_main,
    "invoice": invoice.main,
}
# Run only when named (``python -m bench postgres chains``): postgres, pgstatus (its status.json
# part alone) and invoice start a PostgreSQL server, chains three anvils.
OPT_IN = frozenset({"postgres", "pgstatus", "chains", "invoice"})


def _quiet_logs() -> None:
    structlog.configure(
        processors=[structlog.processors.add_log_level, structlog.dev.ConsoleRenderer()],
        wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "benchmarks",
        nargs="*",
        choices=[*BENCHMARKS, []],
        help="which to run (default: all but postgres and chains, in this order: "
        + ", ".join(BENCHMARKS)
        + ")",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="tiny sizes and durations (a smoke run: numbers mean nothing)",
    )
    parser.add_argument("--payments", type=int, help="stored/open payments (default 100000)")
    parser.add_argument("--duration", type=float, help="seconds per measurement (default 6)")
    parser.add_argument("--no-wrk", action="store_true", help="do not use wrk even if installed")
    parser.add_argument("--workdir", type=Path, help="where databases go (default: a temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    parser.add_argument("--json", type=Path, help="also write the results as JSON here")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    return parser


def sizes_from(args: argparse.Namespace) -> Sizes:
    sizes = Sizes.quick() if args.quick else Sizes()
    changes: dict[str, Any] = {}
    if args.payments:
        changes["payments"] = args.payments
        changes["watcher_open"] = tuple(sorted({min(n, args.payments) for n in sizes.watcher_open}))
    if args.duration:
        changes["duration"] = args.duration
    return dataclasses.replace(sizes, **changes)


def run(names: list[str], ctx: Context) -> list[Section]:
    """Run the named benchmarks in order; print each section as it completes."""
    sections: list[Section] = []
    print(f"# xbtcpay benchmarks\n\nMachine: {ctx.machine.line()}\n", flush=True)
    for name in names:
        started = time.perf_counter()
        result = BENCHMARKS[name](ctx)
        for section in result if isinstance(result, list) else [result]:
            print(section.markdown(ctx.machine.line()), flush=True)
            sections.append(section)
        say(f"{name} took {time.perf_counter() - started:.0f}s")
    print("## Summary\n")
    for section in sections:
        for ratio, value in section.ratios.items():
            print(f"- {section.name}: ratio {ratio} = {value:.2f}x")
        for target in section.targets:
            print(f"- {section.name}: {target.line()}")
        if section.pending:
            print(f"- {section.name}: PENDING ({section.pending})")
    return sections


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _quiet_logs()
    names = args.benchmarks or [n for n in BENCHMARKS if n not in OPT_IN]
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="xbtcpay-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    ctx = Context(workdir, sizes_from(args), use_wrk=not args.no_wrk)
    try:
        sections = run(names, ctx)
    finally:
        if not args.keep and args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "machine": ctx.machine.as_dict(),
                    "sizes": dataclasses.asdict(ctx.sizes),
                    "sections": [s.as_dict() for s in sections],
                },
                indent=2,
                default=str,
            )
        )
    missed = any(t.met is False for s in sections for t in s.targets)
    return 1 if args.strict and missed else 0


if __name__ == "__main__":
    sys.exit(main())

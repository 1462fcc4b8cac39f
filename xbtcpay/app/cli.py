"""The ``xbtcpay`` command: run, check-config, migrate, db, payments, postbacks, vouchers,
dev, sweep, funds, admin, export."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import time
from collections.abc import Callable, Coroutine
from typing import Any

from xbtcpay import __version__
from xbtcpay.app import admin, vouchers
from xbtcpay.app.config import Config, config_path, load_config
from xbtcpay.app.logs import configure_logging
from xbtcpay.core.errors import ConfigError, PluginError, StorageError
from xbtcpay.core.persistence import Engine
from xbtcpay.storage.engines import open_engine
from xbtcpay.storage.payments import PaymentStore
from xbtcpay.storage.postbacks import PostbackStore


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="xbtcpay", description="Self-hosted payment processor.")
    parser.add_argument(
        "-c", "--config", help="config file (default: $XBTCPAY_CONFIG or ./config.yaml)"
    )
    parser.add_argument("--version", action="version", version=f"xbtcpay {__version__}")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "-c",
        "--config",
        default=argparse.SUPPRESS,
        help="config file (also accepted after the command)",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("run", help="run the daemon", parents=[common])
    sub.add_parser(
        "check-config", help="validate the config and explain every problem", parents=[common]
    )
    sub.add_parser("migrate", help="apply database migrations", parents=[common])
    payments = sub.add_parser("payments", help="inspect payments", parents=[common])
    psub = payments.add_subparsers(dest="action", required=True)
    plist = psub.add_parser("list", help="list payments, newest first")
    plist.add_argument("--status")
    plist.add_argument("--limit", type=int, default=50)
    pshow = psub.add_parser("show", help="one payment with its events and postbacks")
    pshow.add_argument("id")
    postbacks = sub.add_parser(
        "postbacks", help="inspect and redeliver postbacks", parents=[common]
    )
    bsub = postbacks.add_subparsers(dest="action", required=True)
    blist = bsub.add_parser("list", help="list postbacks, newest first")
    blist.add_argument("--status", choices=["pending", "delivered", "failed"])
    blist.add_argument("--payment")
    blist.add_argument("--limit", type=int, default=50)
    bre = bsub.add_parser("redeliver", help="queue a postback for delivery again")
    bre.add_argument("id", type=int)
    vouchers.add_parser(sub, common)
    admin.add_parser(sub, common)
    db = sub.add_parser("db", help="database tools", parents=[common])
    dsub = db.add_subparsers(dest="action", required=True)
    dcopy = dsub.add_parser(
        "copy",
        help="copy an installation into an empty database"
        " (e.g. SQLite to PostgreSQL) and verify it",
    )
    dcopy.add_argument("source", help="sqlite:///PATH or postgresql://... to copy from")
    dcopy.add_argument("target", help="an empty database URL to copy into (migrated first)")
    dcopy.add_argument(
        "--target-password-env",
        metavar="NAME",
        help="read the target's password from this environment variable",
    )
    dev = sub.add_parser(
        "dev", help="run against a local dev chain (anvil + test 0xBTC)", parents=[common]
    )
    dev.add_argument("action", nargs="?", choices=["pay"], help="pay PAYMENT_ID [AMOUNT]")
    dev.add_argument("args", nargs="*")
    dev.add_argument(
        "--anvil-port",
        type=int,
        default=None,
        help="port of the dev chain (default 8545 when free, else any free port)",
    )
    dev.add_argument(
        "--rpc-listen",
        default=None,
        help="HOST:PORT of the private JSON-RPC port (default from the config)",
    )
    dev.add_argument(
        "--public-listen",
        default=None,
        help="HOST:PORT of the public port (default from the config)",
    )

    export = sub.add_parser(
        "export",
        help="the books of a period: CSV rows or a beancount journal (docs/books.md)",
        parents=[common],
    )
    export.add_argument(
        "--from",
        dest="start",
        required=True,
        help="start, included: UNIX seconds or ISO 8601 date/time (UTC unless an offset)",
    )
    export.add_argument("--to", dest="end", required=True, help="end, excluded (same forms)")
    export.add_argument("--format", required=True, choices=["csv", "beancount"])
    export.add_argument("--currency", help="fiat column's currency (ISO 4217) where rates apply")
    export.add_argument("-o", "--output", required=True, help="file to write (- for stdout)")

    from xbtcpay.app.sweeps import add_commands as add_sweep_commands

    add_sweep_commands(sub, common)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "dev":
        from xbtcpay.app.dev import dev_main

        return dev_main(args)
    if args.command == "db":
        return _guarded(_db_copy(args))
    if args.command == "sweep" and args.action == "sign":
        from xbtcpay.app.sweeps import sign_main

        return sign_main(args)  # offline: no config, no node
    path = config_path(args.config)
    try:
        config = load_config(path)
    except ConfigError as exc:
        for problem in exc.problems:
            print(f"config error: {problem}", file=sys.stderr)
        return 2
    if args.command == "check-config":
        print(f"{path}: ok ({len(config.assets)} assets, {len(config.plugins)} plugins)")
        return 0
    configure_logging(config.log.level, config.log.format, final=args.command == "run")
    if args.command == "run":
        return _run(config)
    if args.command == "export":
        return _guarded(_export(config, args))
    handlers: dict[str, Callable[[Config, argparse.Namespace], Coroutine[Any, Any, int]]] = {
        "migrate": _migrate,
        "payments": _payments,
        "postbacks": _postbacks,
        "vouchers": vouchers.run,
        "admin": admin.run,
    }
    from xbtcpay.app.sweeps import funds_main, sweep_main

    handlers.update(sweep=sweep_main, funds=funds_main)
    return _guarded(handlers[args.command](config, args))


def _guarded(job: Coroutine[Any, Any, int]) -> int:
    """Run a command; an unreachable or refusing database is one line and exit 2."""
    try:
        return asyncio.run(job)
    except StorageError as exc:
        print(f"database error: {exc.detail or exc}", file=sys.stderr)
        return 2


async def _db_copy(args: argparse.Namespace) -> int:
    from xbtcpay.storage.copy import copy_database

    target_password = os.environ.get(args.target_password_env or "", "") or None
    source = await open_engine(_resolve_url(args.source))
    try:
        target = await open_engine(_resolve_url(args.target), password=target_password)
        try:
            checks = await copy_database(source, target, progress=print)
        finally:
            await target.close()
    finally:
        await source.close()
    print(f"{'table':18} {'source':>9} {'target':>9}  checksum")
    for c in checks:
        state = "ok" if c.ok else f"MISMATCH {c.source_sum[:12]} != {c.target_sum[:12]}"
        print(f"{c.table:18} {c.source_rows:>9} {c.target_rows:>9}  {state}")
    if not all(c.ok for c in checks):
        print("verify failed: the target differs from the source", file=sys.stderr)
        return 1
    print("verified: every table has the same rows in both databases")
    return 0


def _resolve_url(url: str) -> str:
    """A relative sqlite:/// path is taken from the current directory."""
    if url.startswith("sqlite:///") and not url.startswith("sqlite:////"):
        return "sqlite:///" + os.path.abspath(url[len("sqlite:///") :])
    return url


def _run(config: Config) -> int:
    from xbtcpay.app.daemon import run_forever

    try:
        asyncio.run(run_forever(config))
    except StorageError as exc:
        print(f"database error: {exc.detail or exc}", file=sys.stderr)
        return 2
    except PluginError as exc:
        print(f"plugin error: {exc}", file=sys.stderr)
        return 3
    except OSError as exc:
        print(f"cannot start: {exc}", file=sys.stderr)
        return 4
    return 0


async def _open(config: Config, migrate: bool = True) -> Engine:
    password = config.database_password.reveal() if config.database_password else None
    return await open_engine(
        config.database, password=password, migrate=migrate, pool_size=config.database_pool_size
    )


async def _migrate(config: Config, args: argparse.Namespace) -> int:
    db = await _open(config, migrate=False)
    try:
        applied = await db.migrate()
    finally:
        await db.close()
    print("applied: " + (", ".join(applied) if applied else "nothing (up to date)"))
    return 0


async def _export(config: Config, args: argparse.Namespace) -> int:
    """``xbtcpay export``: the same request and text as ``export.journal``; a refused
    parameter is one line and exit 2, like argparse's own refusals."""
    from xbtcpay.books.period import parse_request
    from xbtcpay.books.service import build
    from xbtcpay.core.errors import InvalidParams

    params = {"from": args.start, "to": args.end, "format": args.format}
    if args.currency is not None:
        params["currency"] = args.currency
    try:
        request = parse_request(params)
    except InvalidParams as exc:
        print(f"xbtcpay export: error: {exc.message}", file=sys.stderr)
        return 2
    db = await _open(config)
    try:
        async with contextlib.AsyncExitStack() as stack:
            book = await _rate_book(config, stack) if request.currency else None
            books = build(
                db, config.assets, config.commerce.virtual_currencies, book, config.chain.key
            )
            try:
                text, count = await books.export(request)
            except InvalidParams as exc:
                print(f"xbtcpay export: error: {exc.message}", file=sys.stderr)
                return 2
    finally:
        await db.close()
    if args.output == "-":
        sys.stdout.write(text)
    else:
        await asyncio.to_thread(_write, args.output, text)
        print(f"{count} movements written to {args.output}", file=sys.stderr)
    return 0


def _write(path: str, text: str) -> None:
    with open(path, "w", encoding="utf-8", newline="") as out:
        out.write(text)


async def _rate_book(config: Config, stack: contextlib.AsyncExitStack) -> Any:
    """The configured rate book (None without ``rates:``), its HTTP session on ``stack``."""
    if config.rates is None:
        return None
    import aiohttp

    from xbtcpay.rates.book import RateBook
    from xbtcpay.rates.service import build_sources, chain_nodes

    session = await stack.enter_async_context(aiohttp.ClientSession())
    nodes = chain_nodes(config.chains, config.chain.key, session)
    sources = build_sources(config.rates, session, config.assets, nodes)
    return RateBook(config.rates, sources)


def _print(obj: Any) -> None:
    print(json.dumps(obj, indent=2, default=str))


def _ts(value: float | None) -> str:
    return "-" if value is None else time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(value))


async def _payments(config: Config, args: argparse.Namespace) -> int:
    db = await _open(config)
    try:
        store = PaymentStore(db)
        if args.action == "list":
            rows = await store.search(status=args.status, limit=args.limit)
            print(f"{'id':24} {'status':18} {'asset':6} {'amount':>16} {'received':>16} created")
            for p in rows:
                print(
                    f"{p.id:24} {p.status.value:18} {p.asset:6} {format(p.amount, 'f'):>16} "
                    f"{format(p.amount_received, 'f'):>16} {_ts(p.created_at)}"
                )
            return 0
        payment = await store.get(args.id)
        if payment is None:
            print(f"no payment {args.id}", file=sys.stderr)
            return 1
        outbox = await PostbackStore(db).search(payment_id=payment.id)
        _print(
            {
                "payment": payment.__dict__,
                "events": await store.events(payment.id),
                "postbacks": [p.__dict__ for p in outbox],
            }
        )
        return 0
    finally:
        await db.close()


async def _postbacks(config: Config, args: argparse.Namespace) -> int:
    db = await _open(config)
    try:
        store = PostbackStore(db)
        if args.action == "list":
            rows = await store.search(status=args.status, payment_id=args.payment, limit=args.limit)
            print(f"{'id':>6} {'status':10} {'tries':>5} {'event':10} {'payment':24} url / last")
            for pb in rows:
                last = pb.last_error or (f"HTTP {pb.last_status}" if pb.last_status else "")
                print(
                    f"{pb.id:>6} {pb.status:10} {pb.attempts:>5} {pb.event:10} "
                    f"{pb.payment_id:24} {pb.url} {last}"
                )
            return 0
        if not await store.redeliver(args.id, time.time()):
            print(f"no postback {args.id}", file=sys.stderr)
            return 1
        print(f"postback {args.id} queued; a running daemon delivers it within a second")
        return 0
    finally:
        await db.close()


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())

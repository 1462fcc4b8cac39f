"""The ``xbtcpay`` command: run, check-config, migrate, payments, postbacks, dev."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Callable, Coroutine
from typing import Any

from xbtcpay import __version__
from xbtcpay.config import Config, config_path, load_config
from xbtcpay.errors import ConfigError, PluginError
from xbtcpay.logs import configure_logging
from xbtcpay.storage.database import Database, sqlite_path
from xbtcpay.storage.payments import PaymentStore
from xbtcpay.storage.postbacks import PostbackStore


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="xbtcpay", description="Self-hosted payment processor.")
    parser.add_argument("-c", "--config", help="config file (default: $XBTCPAY_CONFIG or "
                                               "./config.yaml)")
    parser.add_argument("--version", action="version", version=f"xbtcpay {__version__}")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-c", "--config", default=argparse.SUPPRESS,
                        help="config file (also accepted after the command)")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("run", help="run the daemon", parents=[common])
    sub.add_parser("check-config", help="validate the config and explain every problem",
                   parents=[common])
    sub.add_parser("migrate", help="apply database migrations", parents=[common])
    payments = sub.add_parser("payments", help="inspect payments", parents=[common])
    psub = payments.add_subparsers(dest="action", required=True)
    plist = psub.add_parser("list", help="list payments, newest first")
    plist.add_argument("--status")
    plist.add_argument("--limit", type=int, default=50)
    pshow = psub.add_parser("show", help="one payment with its events and postbacks")
    pshow.add_argument("id")
    postbacks = sub.add_parser("postbacks", help="inspect and redeliver postbacks",
                               parents=[common])
    bsub = postbacks.add_subparsers(dest="action", required=True)
    blist = bsub.add_parser("list", help="list postbacks, newest first")
    blist.add_argument("--status", choices=["pending", "delivered", "failed"])
    blist.add_argument("--payment")
    blist.add_argument("--limit", type=int, default=50)
    bre = bsub.add_parser("redeliver", help="queue a postback for delivery again")
    bre.add_argument("id", type=int)
    dev = sub.add_parser("dev", help="run against a local dev chain (anvil + test 0xBTC)",
                         parents=[common])
    dev.add_argument("action", nargs="?", choices=["pay"], help="pay PAYMENT_ID [AMOUNT]")
    dev.add_argument("args", nargs="*")
    dev.add_argument("--anvil-port", type=int, default=None,
                     help="port of the dev chain (default 8545 when free, else any free port)")
    dev.add_argument("--rpc-listen", default=None,
                     help="HOST:PORT of the private JSON-RPC port (default from the config)")
    dev.add_argument("--public-listen", default=None,
                     help="HOST:PORT of the public port (default from the config)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "dev":
        from xbtcpay.dev import dev_main

        return dev_main(args)
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
    configure_logging(config.log.level, config.log.format)
    if args.command == "run":
        return _run(config)
    handlers: dict[str, Callable[[Config, argparse.Namespace], Coroutine[Any, Any, int]]] = {
        "migrate": _migrate, "payments": _payments, "postbacks": _postbacks,
    }
    return asyncio.run(handlers[args.command](config, args))


def _run(config: Config) -> int:
    from xbtcpay.app import run_forever

    try:
        asyncio.run(run_forever(config))
    except PluginError as exc:
        print(f"plugin error: {exc}", file=sys.stderr)
        return 3
    except OSError as exc:
        print(f"cannot start: {exc}", file=sys.stderr)
        return 4
    return 0


async def _open(config: Config) -> Database:
    db = Database(sqlite_path(config.database))
    await db.open()
    await db.migrate()
    return db


async def _migrate(config: Config, args: argparse.Namespace) -> int:
    db = Database(sqlite_path(config.database))
    await db.open()
    try:
        applied = await db.migrate()
    finally:
        await db.close()
    print("applied: " + (", ".join(applied) if applied else "nothing (up to date)"))
    return 0


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
                print(f"{p.id:24} {p.status.value:18} {p.asset:6} {format(p.amount, 'f'):>16} "
                      f"{format(p.amount_received, 'f'):>16} {_ts(p.created_at)}")
            return 0
        payment = await store.get(args.id)
        if payment is None:
            print(f"no payment {args.id}", file=sys.stderr)
            return 1
        outbox = await PostbackStore(db).search(payment_id=payment.id)
        _print({"payment": payment.__dict__, "events": await store.events(payment.id),
                "postbacks": [p.__dict__ for p in outbox]})
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
                print(f"{pb.id:>6} {pb.status:10} {pb.attempts:>5} {pb.event:10} "
                      f"{pb.payment_id:24} {pb.url} {last}")
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

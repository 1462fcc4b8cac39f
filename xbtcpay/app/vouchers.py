"""``xbtcpay vouchers create|list|disable``: the shop's voucher administration.

Argument parsing and printing only; creating, listing and disabling are the media access
API's voucher store (``xbtcpay.commerce.media_access``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from xbtcpay.app.config import Config
from xbtcpay.commerce.media_access.products import media_terms
from xbtcpay.commerce.media_access.voucher_admin import create_voucher
from xbtcpay.commerce.media_access.voucher_store import VoucherStore, describe
from xbtcpay.core.catalog import Catalog
from xbtcpay.core.errors import RpcError
from xbtcpay.storage.engines import open_engine


def add_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    vouchers = sub.add_parser(
        "vouchers", help="create, list and disable vouchers", parents=[common]
    )
    vsub = vouchers.add_subparsers(dest="action", required=True)
    create = vsub.add_parser("create", help="create a voucher (the code is stored hashed)")
    which = create.add_mutually_exclusive_group(required=True)
    which.add_argument("--code", help="the code customers type")
    which.add_argument("--reference", help="the id of an external voucher code")
    grant = create.add_mutually_exclusive_group(required=True)
    grant.add_argument("--product", help="grant this product's entitlement or one period")
    grant.add_argument("--balance", metavar="CURRENCY:AMOUNT", help="balance credit, EUR:5.00")
    grant.add_argument(
        "--discount",
        metavar="PRODUCT:PERCENT%|AMOUNT",
        help="discount on the next purchase, movie42:50%% or movie42:1.00",
    )
    create.add_argument("--max-uses", type=int)
    create.add_argument("--max-uses-per-customer", type=int)
    create.add_argument("--valid-from", type=int, help="UNIX time")
    create.add_argument("--valid-until", type=int, help="UNIX time")
    vlist = vsub.add_parser("list", help="list vouchers, newest first (never their codes)")
    vlist.add_argument("--limit", type=int, default=50)
    disable = vsub.add_parser("disable", help="refuse further redemptions of a voucher")
    disable.add_argument("id", type=int)


def _grants(args: argparse.Namespace) -> dict[str, Any]:
    if args.product:
        return {"product": args.product}
    if args.balance:
        currency, _, amount = args.balance.partition(":")
        return {"balance": {"currency": currency, "amount": amount}}
    product, _, value = args.discount.partition(":")
    if value.endswith("%"):
        return {"discount": {"product": product, "percent": value[:-1]}}
    return {"discount": {"product": product, "amount": value}}


async def run(config: Config, args: argparse.Namespace) -> int:
    password = config.database_password.reveal() if config.database_password else None
    db = await open_engine(config.database, password=password, pool_size=config.database_pool_size)
    products = Catalog(config.products).products
    currencies = config.commerce.currencies()
    store = VoucherStore(
        db, media_terms(products, config.media_access.item_groups), currencies, time.time
    )
    try:
        if args.action == "create":
            params = {
                "code": args.code,
                "reference": args.reference,
                "grants": _grants(args),
                "max_uses": args.max_uses,
                "max_uses_per_customer": args.max_uses_per_customer,
                "valid_from": args.valid_from,
                "valid_until": args.valid_until,
            }
            try:
                made = await create_voucher(store, products, currencies, params)
                print(json.dumps(made, indent=2))
            except RpcError as exc:
                print(f"refused: {exc.detail or exc.message}", file=sys.stderr)
                return 1
            return 0
        if args.action == "list":
            print(f"{'id':>6} {'kind':9} {'uses':>5} {'max':>5} {'disabled':8} grants")
            for v in await store.list(args.limit):
                row = describe(v)
                print(
                    f"{row['id']:>6} {row['kind']:9} {row['uses']:>5} "
                    f"{row['max_uses'] or '-':>5} {str(row['disabled']).lower():8} "
                    f"{json.dumps(row['grants'])}"
                )
            return 0
        if not await store.disable(args.id):
            print(f"no voucher {args.id}", file=sys.stderr)
            return 1
        print(f"voucher {args.id} disabled")
        return 0
    finally:
        await db.close()

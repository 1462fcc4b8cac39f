"""Replicas sharing one PostgreSQL database share one voucher attempt limit: 60 wrong codes
sent at once through three replicas get only ``voucher_failures`` of them evaluated."""

from __future__ import annotations

import asyncio
import secrets
import time
from contextlib import AsyncExitStack
from pathlib import Path

from tests.commerce.media import Clock, media_daemon, ok
from xbtcpay.storage.pg_server import PgServer


async def test_three_replicas_share_one_voucher_attempt_limit(
    tmp_path: Path, postgres: PgServer
) -> None:
    url = postgres.create_database("vouchers_" + secrets.token_hex(4))
    clock = Clock(time.time())
    async with AsyncExitStack() as stack:
        replicas = []
        for n in range(3):
            directory = tmp_path / f"r{n}"
            directory.mkdir()
            overrides = {
                "database": url,
                "cluster": {"replica_id": f"r{n}"},
                "commerce": {"voucher_failures": 5},
            }
            replicas.append(
                await stack.enter_async_context(media_daemon(directory, clock, overrides))
            )
        await ok(
            replicas[0], "voucher.create", {"code": "SHARED-1", "grants": {"product": "rent42"}}
        )
        results = await asyncio.gather(
            *(
                replicas[i % 3].call(
                    "payment.redeemvoucher", {"customer": "roamer", "vouchercode": f"WRONG-{i}"}
                )
                for i in range(60)
            )
        )
        codes = [r["error"]["code"] for r in results]
        assert codes.count(-32020) == 5 and codes.count(-32029) == 55, sorted(codes)
        for replica in replicas:  # the right code too, on every replica, until the window ends
            reply = await replica.call(
                "payment.redeemvoucher", {"customer": "roamer", "vouchercode": "SHARED-1"}
            )
            assert reply["error"]["code"] == -32029
        await ok(
            replicas[2], "payment.redeemvoucher", {"customer": "other", "vouchercode": "SHARED-1"}
        )

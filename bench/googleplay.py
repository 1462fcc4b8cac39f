"""Google Play plugin cost: Google's client stack and a full validation vs a bare HTTP call.

``python -m bench.googleplay [--quick]`` (loopback only; bounded by time and count). All
three rows call the same local fake of the Play Developer API, measured in the same run:

- bare aiohttp GET of ``purchases.products.get`` with a valid bearer token (the baseline);
- ``PlayApi.product``: google-api-python-client + google-auth over httplib2 in a worker thread;
- ``payment.validateGooglePlay`` over JSON-RPC on a running daemon: that call, the acknowledge
  call, a durable payment and its paid event (a new purchase token each time).

Ratios are calls/s of each row over the baseline. No target: the numbers tell operators what
one validation costs relative to the provider round trip it cannot avoid.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
import structlog
from xbtcpay_googleplay.api import PlayApi
from xbtcpay_googleplay.settings import load_settings

from bench.machine import current
from bench.report import Section
from tests.fakes.google_play import FakeGooglePlay
from tests.harness import running_daemon
from tests.plugins.drivers.googleplay import COINS, PACKAGE, PRODUCTS, plugin_settings

MAX_CALLS = 20_000


async def rate(call: Callable[[], Awaitable[object]], duration: float, workers: int) -> float:
    """Calls per second of ``call`` run by ``workers`` concurrent loops for ``duration`` s."""
    done = 0
    deadline = time.perf_counter() + duration

    async def loop() -> None:
        nonlocal done
        while time.perf_counter() < deadline and done < MAX_CALLS:
            await call()
            done += 1

    started = time.perf_counter()
    await asyncio.gather(*(loop() for _ in range(workers)))
    return done / (time.perf_counter() - started)


class _Ctx:
    """The little of a PluginContext that load_settings reads."""

    name = "googleplay"

    def __init__(self, settings: dict[str, object]) -> None:
        self.settings = settings


async def run(duration: float, workers: int, workdir: Path) -> Section:
    fake = await FakeGooglePlay(package=PACKAGE).start()
    try:
        settings = plugin_settings(fake, workdir)
        api = PlayApi(load_settings(_Ctx(settings)))  # type: ignore[arg-type]
        token = fake.buy(COINS)
        await api.product(COINS, token)  # fetches the access token once
        bearer = next(iter(fake.access_tokens))
        url = (
            f"{fake.url}/androidpublisher/v3/applications/{PACKAGE}/purchases/products/"
            f"{COINS}/tokens/{token}"
        )
        async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {bearer}"}) as s:

            async def bare() -> None:
                async with s.get(url) as resp:
                    assert resp.status == 200
                    await resp.read()

            bare_rate = await rate(bare, duration, workers)
        client_rate = await rate(lambda: api.product(COINS, token), duration, workers)
        overrides = {
            "plugins": {"googleplay": settings},
            "products": PRODUCTS,
            "log": {"level": "error"},
        }
        async with running_daemon(workdir, overrides) as d:

            async def validate() -> None:
                reply = await d.call(
                    "payment.validateGooglePlay",
                    {"purchase_token": fake.buy(COINS), "product_id": COINS},
                )
                assert reply["result"]["valid"] is True, reply

            validate_rate = await rate(validate, duration, workers)
    finally:
        await fake.stop()
    rows = [
        ["bare aiohttp GET products.get", bare_rate],
        ["PlayApi.product (Google client, thread)", client_rate],
        ["payment.validateGooglePlay (JSON-RPC)", validate_rate],
    ]
    return Section(
        "googleplay",
        "Google Play: client stack and validation vs a bare call",
        ["path", "calls/s"],
        rows=rows,
        ratios={"client/bare": client_rate / bare_rate, "validate/bare": validate_rate / bare_rate},
        notes=[f"{workers} concurrent callers, {duration:g} s each, loopback fake"],
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.googleplay", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="0.5 s per row (smoke run)")
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--workers", type=int, default=8)
    args = parser.parse_args(argv)
    structlog.configure(
        wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
    )
    duration = 0.5 if args.quick else args.duration
    with tempfile.TemporaryDirectory(prefix="xbtcpay-bench-gp-") as tmp:
        section = asyncio.run(run(duration, args.workers, Path(tmp)))
    print(section.markdown(current().line()))
    return 0


if __name__ == "__main__":
    sys.exit(main())

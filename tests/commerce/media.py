"""A daemon with the media catalog of issue 11 and an injected clock; one call over any
transport answered as (result, error)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tests.harness import DaemonHandle, deep_merge, running_daemon
from xbtcpay.plugin_api import Plugin

TRANSPORTS = ("jsonrpc", "http", "ws")
START = int(datetime(2026, 1, 31, 12, tzinfo=UTC).timestamp())
MEDIA_CONFIG: dict[str, Any] = {
    "commerce": {
        "default_subscription": "basic",
        "prepare_ttl": 86400,
        "item_groups": {"kids": [7, 8]},
        "expiry_interval": 3600,
    },
    "products": {
        "basic": {
            "type": "subscription",
            "duration_months": 1,
            "premium": False,
            "prices": {"EUR": "4.99"},
            "items": ["*"],
        },
        "premium": {
            "type": "subscription",
            "duration_months": 1,
            "premium": True,
            "prices": {"EUR": "9.99"},
            "items": ["*"],
        },
        "movie42": {"type": "ownage", "prices": {"EUR": "4.99"}, "items": [42]},
        "rent42": {"type": "ppv", "ppv_hours": 48, "prices": {"EUR": "1.99"}, "items": [42]},
        "kids": {
            "type": "subscription",
            "duration_months": 12,
            "prices": {"EUR": "19.99"},
            "items": ["group:kids"],
        },
    },
}


class Clock:
    """The daemon's clock, moved by the test (no sleeps)."""

    def __init__(self, now: float = START) -> None:
        self.now = float(now)

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@asynccontextmanager
async def media_daemon(
    tmp_path: Path,
    clock: Clock,
    overrides: dict[str, Any] | None = None,
    plugins: dict[str, Plugin] | None = None,
) -> AsyncIterator[DaemonHandle]:
    async with running_daemon(
        tmp_path, deep_merge(MEDIA_CONFIG, overrides or {}), clock=clock, plugins=plugins
    ) as handle:
        yield handle


async def call(
    d: DaemonHandle, transport: str, method: str, params: dict[str, Any]
) -> tuple[Any, dict[str, Any] | None]:
    """(result, None) or (None, {"code", "message"}) whatever the transport."""
    if transport == "jsonrpc":
        reply = await d.call(method, params)
        return reply.get("result"), reply.get("error")
    if transport == "http":
        env = await d.http_api(method, params)
    else:
        env = await d.ws_call(method.replace(".", ":", 1), params)
    if env["error"]["status"]:
        return None, {"code": env["error"]["code"], "message": env["error"]["message"]}
    return env["data"], None


async def ok(
    d: DaemonHandle, method: str, params: dict[str, Any], transport: str = "jsonrpc"
) -> Any:
    result, error = await call(d, transport, method, params)
    assert error is None, error
    return result


async def refused(
    d: DaemonHandle, method: str, params: dict[str, Any], transport: str = "jsonrpc"
) -> dict[str, Any]:
    result, error = await call(d, transport, method, params)
    assert error is not None, result
    return error


async def app_call(
    d: DaemonHandle, method: str, data: dict[str, Any], token: str
) -> tuple[int, dict[str, Any]]:
    """An app's call on the public port with its session: (HTTP status, envelope)."""
    async with d.session.post(
        f"{d.public_url}/api/v0/rpc/{method}", json=data, headers={"X-Session-Id": token}
    ) as resp:
        return resp.status, dict(await resp.json())

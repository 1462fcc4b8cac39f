"""Test harness: a real daemon on free loopback ports, a postback receiver, a subprocess daemon."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import yaml
from aiohttp import web

from tests.pg import database_url, on_postgresql
from xbtcpay.app.config import Config, parse_config
from xbtcpay.app.daemon import Daemon
from xbtcpay.plugin_api import Plugin

REPO = Path(__file__).resolve().parent.parent
DEV_MNEMONIC = "test test test test test test test test test test test junk"
DEV_XPUB = (
    "xpub6Ce9NcJvTk36xtLSrJLZqE7wtgA5deCeYs7rSQtreh4cj6ByPtrg9sD7V2FNFLPnf8heNP3FGkeV9q"
    "wfzvZNSd54JoNXVsXFYSYwHsnJxqP"
)
POSTBACK_SECRET = "test-postback-secret"
TOKEN = "0x5FbDB2315678afecb367f032d93F642f64180aa3"


_HANDED_OUT: dict[int, None] = {}  # in the order handed out (oldest forgotten first)


def ephemeral_low() -> int:
    """The first port of the kernel's ephemeral range (what ``bind(0)`` hands out)."""
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def port_slice(low: int) -> range:
    """The ports this test process may hand out, below ``low`` (the ephemeral range).

    Several test processes run at once: the workers of ``pytest -n`` and, under ``make
    test``, the SQLite and the PostgreSQL pass side by side. Each draws from a slice of its
    own (by engine, then by worker), so no two processes ever hand out the same port: a
    bind check alone cannot see a port another process chose but is not listening on yet.
    """
    worker = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0)
    workers = max(1, int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")))
    engine = 1 if on_postgresql() else 0
    width = (max(low, 10_100) - 10_000) // (2 * workers)
    start = 10_000 + (engine * workers + worker % workers) * width
    return range(start, start + width)


def free_port() -> int:
    """A free loopback port below the kernel's ephemeral range, from this process's slice.

    A ``bind(0)`` port is ephemeral: while a test server is down (killed, restarting, not yet
    started) an outgoing connection may be given it. Ports below that range never are.
    """
    ports = port_slice(ephemeral_low())
    while len(_HANDED_OUT) > len(ports) // 2:
        del _HANDED_OUT[next(iter(_HANDED_OUT))]  # long handed out: listening or given up
    chooser = random.SystemRandom()
    for _ in range(500):
        port = chooser.choice(ports)
        if port in _HANDED_OUT:
            continue  # another server of this test run may not be listening on it yet
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        _HANDED_OUT[port] = None
        return port
    raise RuntimeError(f"no free port in {ports}")


def deep_merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def base_config(tmp_path: Path, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    rpc_port, public_port = free_port(), free_port()
    raw: dict[str, Any] = {
        "database": database_url(tmp_path),
        "rpc": {
            "listen": f"127.0.0.1:{rpc_port}",
            "ip_whitelist": ["127.0.0.1/32", "::1/128"],
            "trusted_proxies": [],
        },
        "public": {"listen": f"127.0.0.1:{public_port}", "base_url": None, "cors_origins": ["*"]},
        "chain": {
            "rpc_urls": ["http://127.0.0.1:1"],
            "chain_id": 31337,
            "confirmations": 3,
            "poll_interval": 0.2,
        },
        "assets": {"0xbtc": {"contract": TOKEN, "decimals": 8, "max_amount": "20999984"}},
        "default_asset": "0xbtc",
        "wallet": {"xpub": DEV_XPUB, "first_index": 10},
        "payments": {"expire_after": 86400},
        "postback": {
            "secret": POSTBACK_SECRET,
            "base_delay": 0.2,
            "max_delay": 1.0,
            "timeout": 2,
            "allow_private": True,
        },  # receivers listen on loopback
        "log": {"level": "warning", "format": "json"},
        # a restarted daemon on a shared database waits for the old lease to expire
        "cluster": {"lease_ttl": 1.5},
    }
    return deep_merge(raw, overrides or {})


def write_config(tmp_path: Path, raw: dict[str, Any]) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


@dataclass
class DaemonHandle:
    daemon: Daemon
    config: Config
    session: aiohttp.ClientSession
    rpc_url: str
    public_url: str

    @property
    def runtime(self) -> Any:
        return self.daemon.parts

    @property
    def processor(self) -> Any:
        return self.daemon.parts.processor if self.daemon.parts else None

    async def call(self, method: str, params: Any = None, request_id: Any = 1) -> dict[str, Any]:
        body: dict[str, Any] = {"jsonrpc": "2.0", "id": request_id, "method": method}
        if params is not None:
            body["params"] = params
        async with self.session.post(self.rpc_url + "/", json=body) as resp:
            return dict(await resp.json())

    async def post_raw(
        self, body: bytes | str, headers: dict[str, str] | None = None
    ) -> tuple[int, Any]:
        async with self.session.post(self.rpc_url + "/", data=body, headers=headers) as resp:
            text = await resp.text()
            return resp.status, (json.loads(text) if text else None)

    async def http_api(self, method: str, data: Any) -> dict[str, Any]:
        async with self.session.post(f"{self.rpc_url}/api/v0/rpc/{method}", json=data) as resp:
            return dict(await resp.json())

    async def ws_call(self, endpoint: str, data: Any, event_id: str = "e1") -> dict[str, Any]:
        async with self.session.ws_connect(self.rpc_url + "/ws") as ws:
            await ws.send_json(
                {
                    "endpoint": endpoint,
                    "data": data,
                    "event": {"id": event_id, "date": int(time.time() * 1000)},
                }
            )
            return dict(await ws.receive_json(timeout=30))

    async def status(self, payment_id: str) -> tuple[int, Any]:
        async with self.session.get(f"{self.public_url}/{payment_id}/status.json") as resp:
            return resp.status, await resp.json()

    async def start_payment(self, amount: str = "1.5", **params: Any) -> dict[str, Any]:
        reply = await self.call("start_payment", {"amount": amount, **params})
        assert "result" in reply, reply
        return dict(reply["result"])


@asynccontextmanager
async def running_daemon(
    tmp_path: Path,
    overrides: dict[str, Any] | None = None,
    *,
    plugins: dict[str, Plugin] | None = None,
    watcher: bool = False,
    clock: Callable[[], float] = time.time,
) -> AsyncIterator[DaemonHandle]:
    """A real daemon in this process, on free loopback ports, with its own SQLite file."""
    raw = base_config(tmp_path, overrides)
    config = parse_config(raw, write_config(tmp_path, raw))
    daemon = Daemon(config, plugins=plugins, watcher=watcher, clock=clock, expiry_interval=0.2)
    await daemon.start()
    session = aiohttp.ClientSession()
    try:
        yield DaemonHandle(
            daemon,
            config,
            session,
            f"http://127.0.0.1:{daemon.rpc_port}",
            f"http://127.0.0.1:{daemon.public_port}",
        )
    finally:
        await session.close()
        await daemon.stop()


@dataclass
class PostbackReceiver:
    """A shop's postback endpoint on loopback that records what it receives.

    ``fail_times`` answers 500 that many times first; ``delay`` sleeps before answering.
    """

    fail_times: int = 0
    delay: float = 0.0
    received: list[dict[str, Any]] = field(default_factory=list)
    attempts: int = 0
    port: int = field(default_factory=free_port)
    _runner: web.AppRunner | None = None
    _arrived: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/postback"

    async def _handle(self, request: web.Request) -> web.Response:
        self.attempts += 1
        body = await request.text()
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.fail_times > 0:
            self.fail_times -= 1
            return web.Response(status=500)
        self.received.append(
            {
                "body": body,
                "json": json.loads(body),
                "headers": dict(request.headers),
                "at": time.time(),
            }
        )
        self._arrived.set()
        return web.Response(text="ok")

    async def start(self) -> PostbackReceiver:
        app = web.Application()
        app.router.add_post("/postback", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> PostbackReceiver:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def wait_for(self, count: int, timeout: float = 15.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while len(self.received) < count:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"{len(self.received)} of {count} postbacks arrived")
            self._arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), timeout=min(remaining, 0.5))
        return self.received


class DaemonProcess:
    """``python -m xbtcpay run`` as a real subprocess (for kill -9 tests)."""

    def __init__(self, config_path: Path, env: dict[str, str] | None = None) -> None:
        self.config_path = config_path
        self.env = {**os.environ, **(env or {})}
        self.proc: subprocess.Popen[bytes] | None = None
        raw = yaml.safe_load(config_path.read_text())
        self.rpc_url = "http://" + raw["rpc"]["listen"]
        self.public_url = "http://" + raw["public"]["listen"]
        self.log_path = config_path.parent / "daemon.log"

    async def start(self, timeout: float = 20.0, command: list[str] | None = None) -> None:
        """``command`` replaces ``python -m xbtcpay`` (its arguments follow it)."""
        log = open(self.log_path, "ab")  # noqa: SIM115 - the child writes it until it exits
        self.proc = subprocess.Popen(
            [*(command or [sys.executable, "-m", "xbtcpay"]), "-c", str(self.config_path), "run"],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=self.env,
            cwd=str(REPO),
        )
        deadline = time.monotonic() + timeout
        async with aiohttp.ClientSession() as session:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"daemon exited: {self.log_path.read_text()[-2000:]}")
                try:
                    async with session.get(self.rpc_url + "/metrics") as resp:
                        if resp.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.1)
        raise TimeoutError("daemon did not start")

    def kill9(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def terminate(self, timeout: float = 15.0) -> int:
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return int(self.proc.returncode or 0)


async def wait_until(
    predicate: Callable[[], Any], timeout: float = 15.0, interval: float = 0.05
) -> Any:
    """Poll ``predicate`` (sync or async) until it returns a truthy value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met in time")
        await asyncio.sleep(interval)

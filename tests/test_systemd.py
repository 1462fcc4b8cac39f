"""systemd integration: the sd_notify client, the daemon's notifications, and the unit file.

The unit is checked with the real ``systemd-analyze`` (security exposure, verify); the
notifier talks to real AF_UNIX datagram sockets; the daemon runs as a real subprocess, once
plainly and once with the kernel's write-xor-execute lock (the ``MemoryDenyWriteExecute=``
promise of the unit) switched on before any extension module is loaded.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.harness import REPO, PostbackReceiver, base_config, write_config
from xbtcpay.app.cli import build_parser
from xbtcpay.app.systemd import Notifier, watchdog_loop

UNIT = REPO / "systemd" / "xbtcpay.service"
INSTALLED_EXEC = "/opt/xbtcpay/.venv/bin/xbtcpay"
MAX_EXPOSURE = 2.0
ANALYZE = shutil.which("systemd-analyze")
needs_analyze = pytest.mark.skipif(
    ANALYZE is None, reason="systemd-analyze is not installed on this machine"
)


# --- Notifier: environment parsing -------------------------------------------------------


def test_no_notify_socket_means_every_call_is_a_noop() -> None:
    notifier = Notifier.from_env({})
    assert not notifier.enabled
    assert notifier.watchdog_interval is None
    assert notifier.ready() is False
    assert notifier.watchdog() is False
    assert notifier.stopping() is False


def test_abstract_socket_and_watchdog_for_this_process() -> None:
    env = {"NOTIFY_SOCKET": "@xbtcpay/notify", "WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "4242"}
    notifier = Notifier.from_env(env, pid=4242)
    assert notifier.address == "\0xbtcpay/notify"
    assert notifier.watchdog_interval == 30.0


@pytest.mark.parametrize(
    "env",
    [
        {"NOTIFY_SOCKET": "/run/notify", "WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"},
        {"NOTIFY_SOCKET": "/run/notify", "WATCHDOG_USEC": "0"},
        {"NOTIFY_SOCKET": "/run/notify", "WATCHDOG_USEC": "soon"},
        {"NOTIFY_SOCKET": "/run/notify"},
    ],
)
def test_watchdog_off_unless_meant_for_this_process(env: dict[str, str]) -> None:
    notifier = Notifier.from_env(env, pid=4242)
    assert notifier.address == "/run/notify"
    assert notifier.watchdog_interval is None


@pytest.mark.parametrize("value", ["vsock:2:1234", "relative/path", "@"])
def test_unusable_notify_socket_disables_notifications(value: str) -> None:
    notifier = Notifier.from_env({"NOTIFY_SOCKET": value, "WATCHDOG_USEC": "1000000"})
    assert not notifier.enabled
    assert notifier.watchdog_interval is None


# --- Notifier: real datagram sockets -------------------------------------------------------


@pytest.fixture
def notify_socket(tmp_path: Path) -> Iterator[tuple[socket.socket, str]]:
    """A bound AF_UNIX datagram socket, like systemd's, and its NOTIFY_SOCKET value."""
    path = tmp_path / "notify"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(5)
    try:
        yield sock, str(path)
    finally:
        sock.close()


def test_messages_reach_a_path_socket(notify_socket: tuple[socket.socket, str]) -> None:
    sock, value = notify_socket
    notifier = Notifier.from_env({"NOTIFY_SOCKET": value})
    assert notifier.ready()
    assert notifier.watchdog()
    assert notifier.status("syncing\nblock 12")
    assert notifier.ready(status="serving")
    assert notifier.stopping()
    received = [sock.recv(4096) for _ in range(5)]
    assert received == [
        b"READY=1",
        b"WATCHDOG=1",
        b"STATUS=syncing block 12",
        b"READY=1\nSTATUS=serving",
        b"STOPPING=1",
    ]


def test_messages_reach_an_abstract_socket() -> None:
    name = f"xbtcpay-test-{os.getpid()}-{time.monotonic_ns()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.settimeout(5)
        notifier = Notifier.from_env({"NOTIFY_SOCKET": "@" + name})
        assert notifier.ready() and notifier.watchdog() and notifier.stopping()
        assert [sock.recv(64) for _ in range(3)] == [b"READY=1", b"WATCHDOG=1", b"STOPPING=1"]


def test_send_failure_is_reported_not_raised(tmp_path: Path) -> None:
    notifier = Notifier.from_env({"NOTIFY_SOCKET": str(tmp_path / "nobody-listens")})
    assert notifier.enabled
    assert notifier.ready() is False


async def test_watchdog_loop_pings_at_half_the_interval(
    notify_socket: tuple[socket.socket, str],
) -> None:
    sock, value = notify_socket
    sock.setblocking(False)
    notifier = Notifier(address=value, watchdog_interval=1.0)
    loop = asyncio.get_running_loop()
    task = asyncio.create_task(watchdog_loop(notifier))
    try:
        stamps = []
        for _ in range(3):
            assert await asyncio.wait_for(loop.sock_recv(sock, 64), 2) == b"WATCHDOG=1"
            stamps.append(time.monotonic())
    finally:
        task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    gaps = [b - a for a, b in itertools.pairwise(stamps)]
    assert all(0.4 <= gap <= 0.8 for gap in gaps), gaps  # 0.5 expected; 1.0 would be wrong


async def test_watchdog_loop_returns_when_the_watchdog_is_off(
    notify_socket: tuple[socket.socket, str],
) -> None:
    sock, value = notify_socket
    await asyncio.wait_for(watchdog_loop(Notifier(address=value)), 1)
    await asyncio.wait_for(watchdog_loop(Notifier(watchdog_interval=0.1)), 1)
    sock.setblocking(False)
    with pytest.raises(BlockingIOError):
        sock.recv(64)


# --- The daemon under a notify socket ----------------------------------------------------

SANDBOX = REPO / "tests" / "systemd_sandbox.py"


def _syscall_group(name: str) -> set[str]:
    """System calls of a ``SystemCallFilter=`` group, nested groups expanded, as systemd
    itself defines them."""
    assert ANALYZE is not None
    out = subprocess.run(
        [ANALYZE, "syscall-filter", "--no-pager", name], capture_output=True, text=True, check=True
    ).stdout
    calls: set[str] = set()
    for line in out.splitlines()[1:]:
        item = line.strip()
        if item.startswith("@"):
            calls |= _syscall_group(item)
        elif item and not item.startswith("#"):
            calls.add(item)
    return calls


def _unit_syscall_allow_list() -> list[str]:
    """The allow-list the unit's ``SystemCallFilter=`` lines produce."""
    allowed: set[str] = set()
    for value in _directives(UNIT.read_text())["SystemCallFilter"]:
        deny = value.startswith("~")
        groups = value.lstrip("~").split()
        calls = set().union(*(_syscall_group(g) if g.startswith("@") else {g} for g in groups))
        allowed = allowed - calls if deny else allowed | calls
    return sorted(allowed)


def _sandbox(**settings: object) -> tuple[list[str], dict[str, str]]:
    """Command prefix and environment that run xbtcpay under systemd_sandbox.py; skips the
    test when this kernel or machine cannot apply the restriction."""
    env = {"XBTCPAY_TEST_SANDBOX": json.dumps(settings)}
    probe = subprocess.run(
        [sys.executable, str(SANDBOX), "--version"],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        check=False,
    )
    if probe.returncode == 77:
        pytest.skip(f"cannot apply {sorted(settings)} here (needs Linux >= 6.3 / libseccomp)")
    assert probe.returncode == 0 and "xbtcpay" in probe.stdout, probe
    return [str(SANDBOX)], env


class NotifyingDaemon:
    """``xbtcpay run`` as a subprocess with NOTIFY_SOCKET and WATCHDOG_USEC set."""

    def __init__(self, tmp_path: Path, prefix: list[str], env: dict[str, str]) -> None:
        self.raw = base_config(tmp_path)
        self.config_path = write_config(tmp_path, self.raw)
        self.rpc_url = "http://" + self.raw["rpc"]["listen"]
        self.public_url = "http://" + self.raw["public"]["listen"]
        self.log_path = tmp_path / "daemon.log"
        self.socket_path = tmp_path / "notify"
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(self.socket_path))
        self.sock.setblocking(False)
        env = {
            **os.environ,
            **env,
            "NOTIFY_SOCKET": str(self.socket_path),
            "WATCHDOG_USEC": "400000",
        }
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, *prefix, "-c", str(self.config_path), "run"],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=str(REPO),
            )

    async def next_message(self, timeout: float = 20.0) -> bytes:
        loop = asyncio.get_running_loop()
        try:
            return await asyncio.wait_for(loop.sock_recv(self.sock, 4096), timeout)
        except TimeoutError:
            raise AssertionError(f"no notification; daemon log:\n{self.log()}") from None

    async def until(self, message: bytes) -> list[bytes]:
        seen: list[bytes] = []
        while not seen or seen[-1] != message:
            seen.append(await self.next_message())
        return seen

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-3000:]

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.sock.close()


Spawn = Callable[[list[str], dict[str, str]], NotifyingDaemon]


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[Spawn]:
    """Start ``xbtcpay run`` (``python PREFIX... -c CONFIG run``); killed at teardown."""
    started: list[NotifyingDaemon] = []

    def start(prefix: list[str], env: dict[str, str]) -> NotifyingDaemon:
        started.append(NotifyingDaemon(tmp_path, prefix, env))
        return started[-1]

    yield start
    for daemon in started:
        daemon.close()


async def _rpc(
    session: aiohttp.ClientSession, url: str, method: str, params: dict[str, Any]
) -> dict[str, Any]:
    body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
    async with session.post(url + "/", json=body) as resp:
        reply = await resp.json()
    assert "result" in reply, reply
    return dict(reply["result"])


async def _ready_then_stop(daemon: NotifyingDaemon, receiver: PostbackReceiver) -> None:
    """READY only after both ports answer; the daemon serves, derives an address and posts
    back to a shop by host name; watchdog pings follow; SIGTERM -> STOPPING, exit 0."""
    before_ready = await daemon.until(b"READY=1")
    assert before_ready == [b"READY=1"], before_ready
    async with aiohttp.ClientSession() as session:
        async with session.get(daemon.rpc_url + "/metrics") as resp:
            assert resp.status == 200
            assert "xbtcpay_payments" in await resp.text()
        async with session.get(daemon.public_url + "/healthz") as resp:
            assert resp.status in (200, 503)
        payment = await _rpc(
            session,
            daemon.rpc_url,
            "start_payment",
            {
                "amount": "1.5",
                "postback_url": f"http://localhost:{receiver.port}/postback",
                "postback_events": ["canceled"],
            },
        )
        assert re.fullmatch(r"0x[0-9a-fA-F]{40}", payment["address"]), payment
        await _rpc(session, daemon.rpc_url, "cancel_payment", {"id": payment["id"]})
    (postback,) = await receiver.wait_for(1)
    assert postback["json"]["id"] == payment["id"]
    pings = [await daemon.next_message() for _ in range(3)]
    assert pings == [b"WATCHDOG=1"] * 3
    daemon.proc.send_signal(signal.SIGTERM)
    tail = await daemon.until(b"STOPPING=1")
    assert set(tail) <= {b"WATCHDOG=1", b"STOPPING=1"}
    assert await asyncio.to_thread(daemon.proc.wait, 20) == 0, daemon.log()


async def test_daemon_notifies_ready_watchdog_and_stopping(
    spawn: Spawn, receiver: PostbackReceiver
) -> None:
    await _ready_then_stop(spawn(["-m", "xbtcpay"], {}), receiver)


async def test_daemon_runs_without_writable_executable_memory(
    spawn: Spawn, receiver: PostbackReceiver
) -> None:
    """``MemoryDenyWriteExecute=yes`` holds: every extension module (aiohttp, coincurve,
    sqlite3, ssl, the keccak backend) loads and works without W+X memory."""
    await _ready_then_stop(spawn(*_sandbox(mdwe=True)), receiver)


@needs_analyze
async def test_daemon_runs_under_the_units_syscall_filter(
    spawn: Spawn, receiver: PostbackReceiver
) -> None:
    """``SystemCallFilter=`` holds: start-up, threads, SQLite, HTTP serving, name resolution,
    outbound HTTP, address derivation and shutdown need no system call outside the unit's
    allow-list."""
    allow = _unit_syscall_allow_list()
    assert "setpriority" not in allow and "mount" not in allow and "epoll_wait" in allow
    await _ready_then_stop(spawn(*_sandbox(allow=allow)), receiver)


# --- The unit file -----------------------------------------------------------------------


def _directives(text: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith(("#", ";", "[")) and "=" in line:
            key, value = line.split("=", 1)
            out.setdefault(key.strip(), []).append(value.strip())
    return out


def test_unit_declares_what_the_daemon_relies_on() -> None:
    d = _directives(UNIT.read_text())
    assert d["Type"] == ["notify"] and d["NotifyAccess"] == ["main"]
    assert d["WatchdogSec"] == ["30"]
    assert d["ExecStart"][0].split()[0] == INSTALLED_EXEC
    assert d["StateDirectory"] == ["xbtcpay"] and d["ConfigurationDirectory"] == ["xbtcpay"]
    assert d["Restart"] == ["on-failure"] and "TimeoutStopSec" in d
    families = set(d["RestrictAddressFamilies"][0].split())
    assert families == {"AF_INET", "AF_INET6", "AF_UNIX"}
    assert d["MemoryDenyWriteExecute"] == ["yes"]
    assert d.get("PrivateNetwork", ["no"]) == ["no"]  # the node and the shops are remote


def test_exec_start_is_a_command_line_the_cli_accepts() -> None:
    (exec_start,) = _directives(UNIT.read_text())["ExecStart"]
    args = build_parser().parse_args(shlex.split(exec_start)[1:])
    assert (args.command, args.config) == ("run", "/etc/xbtcpay/config.yaml")


def _exposure(output: str, unit_name: str) -> float:
    match = re.search(rf"Overall exposure level for {re.escape(unit_name)}: (\d+\.\d+)", output)
    assert match, output
    return float(match.group(1))


@needs_analyze
def test_security_exposure_is_low() -> None:
    assert ANALYZE is not None
    result = subprocess.run(
        [ANALYZE, "security", "--offline=true", "--no-pager", str(UNIT)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    exposure = _exposure(result.stdout + result.stderr, UNIT.name)
    assert exposure <= MAX_EXPOSURE, result.stdout


@needs_analyze
def test_security_parser_sees_a_weak_unit(tmp_path: Path) -> None:
    """The exposure check can fail: an unhardened copy of the unit scores far above the bar."""
    assert ANALYZE is not None
    weak = tmp_path / "xbtcpay.service"
    weak.write_text("[Service]\nType=notify\nExecStart=/bin/true\n")
    result = subprocess.run(
        [ANALYZE, "security", "--offline=true", "--no-pager", str(weak)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert _exposure(result.stdout + result.stderr, weak.name) > MAX_EXPOSURE


@needs_analyze
def test_unit_verifies_cleanly(tmp_path: Path) -> None:
    """``systemd-analyze verify`` checks that ExecStart exists and is executable. This machine
    has no /opt/xbtcpay, so the check runs on a copy whose ExecStart names this checkout's own
    ``xbtcpay`` script; every other line is verified exactly as shipped."""
    assert ANALYZE is not None
    script = Path(sys.executable).parent / "xbtcpay"
    assert os.access(script, os.X_OK), f"{script} missing: pip install -e ."
    text = UNIT.read_text()
    assert INSTALLED_EXEC in text
    copy = tmp_path / UNIT.name
    copy.write_text(text.replace(INSTALLED_EXEC, str(script)))
    result = subprocess.run(
        [ANALYZE, "verify", "--no-pager", str(copy)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    output = (result.stdout + result.stderr).strip()
    assert result.returncode == 0, output
    assert "xbtcpay" not in output, output

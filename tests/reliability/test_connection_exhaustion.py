"""One client's idle connections cannot take the ports offline (connection exhaustion)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest

from tests.harness import REPO, running_daemon
from xbtcpay.web.connections import RateLimitedLog, accept_error_handler

LIMIT = 8
FLOOD = 40


async def _idle_connection(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", port)


async def _closed(reader: asyncio.StreamReader, within: float) -> bool:
    """True when the server closes the connection (EOF or reset) within ``within`` seconds."""
    try:
        async with asyncio.timeout(within):
            return await reader.read(1) == b""
    except ConnectionError:
        return True
    except TimeoutError:
        return False


async def test_idle_flood_from_one_address_is_capped_while_another_client_is_served(
        tmp_path: Path) -> None:
    overrides = {"public": {"max_connections_per_client": LIMIT, "header_timeout": 30,
                            "idle_timeout": 30}}
    async with running_daemon(tmp_path, overrides) as d:
        port = d.daemon.public_port
        flood = [await _idle_connection(port) for _ in range(FLOOD)]
        closed = await asyncio.gather(*(_closed(r, within=3.0) for r, _ in flood))
        assert sum(closed) == FLOOD - LIMIT  # the first LIMIT are kept, the rest refused
        other = aiohttp.TCPConnector(local_addr=("127.0.0.2", 0))
        async with aiohttp.ClientSession(connector=other) as session:
            for _ in range(20):
                async with session.get(f"http://127.0.0.1:{port}/healthz") as resp:
                    assert resp.status == 200
        for _, writer in flood:
            writer.close()


async def test_a_connection_that_never_sends_a_request_head_is_dropped(tmp_path: Path) -> None:
    overrides = {"public": {"header_timeout": 0.5}, "rpc": {"header_timeout": 0.5}}
    async with running_daemon(tmp_path, overrides) as d:
        for port in (d.daemon.public_port, d.daemon.rpc_port):
            silent = await _idle_connection(port)
            trickle = await _idle_connection(port)
            trickle[1].write(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # never ends
            assert await _closed(silent[0], within=5.0)
            assert await _closed(trickle[0], within=5.0)
            for _, writer in (silent, trickle):
                writer.close()


async def test_idle_keep_alive_connections_are_dropped(tmp_path: Path) -> None:
    overrides = {"public": {"idle_timeout": 0.5}, "rpc": {"idle_timeout": 0.5}}
    async with running_daemon(tmp_path, overrides) as d:
        for port in (d.daemon.public_port, d.daemon.rpc_port):
            reader, writer = await _idle_connection(port)
            writer.write(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            head = await reader.readuntil(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 200")
            await reader.read(65536)  # the body; the connection stays open, idle
            assert await _closed(reader, within=5.0)
            writer.close()


async def test_accept_errors_are_logged_once_per_interval(
        capsys: pytest.CaptureFixture[str]) -> None:
    now = [0.0]
    handler = accept_error_handler(RateLimitedLog(interval=60, clock=lambda: now[0]))
    loop = asyncio.get_running_loop()
    context = {"message": "socket.accept() out of system resource",
               "exception": OSError(24, "Too many open files")}
    capsys.readouterr()
    for second in range(120):  # asyncio retries accept() once a second
        now[0] = float(second)
        handler(loop, context)
    lines = [line for line in capsys.readouterr().out.splitlines() if "http.accept_failed" in line]
    assert len(lines) == 2 and "suppressed=59" in lines[1]
    assert not any("Traceback" in line for line in lines)


def _limit_after_start(soft: int, hard: int) -> tuple[int, str]:
    script = (f"import resource; resource.setrlimit(resource.RLIMIT_NOFILE, ({soft}, {hard}));"
              "from xbtcpay.web.connections import raise_open_files_limit;"
              "print(raise_open_files_limit())")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            cwd=REPO, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    return int(result.stdout.strip().splitlines()[-1]), result.stdout + result.stderr


def test_a_low_open_files_limit_is_raised_or_warned_about() -> None:
    limit, output = _limit_after_start(256, 256)
    assert limit == 256 and "daemon.open_files_limit_low" in output
    limit, output = _limit_after_start(256, 8192)
    assert limit == 8192 and "daemon.open_files_limit_low" not in output
    unit = (REPO / "systemd" / "xbtcpay.service").read_text()
    assert "\nLimitNOFILE=65536\n" in unit


async def test_a_slow_body_after_a_complete_head_is_not_cut_by_the_header_timeout(
        tmp_path: Path) -> None:
    async with running_daemon(tmp_path, {"rpc": {"header_timeout": 0.5}}) as d:
        reader, writer = await _idle_connection(d.daemon.rpc_port)
        writer.write(b"POST /api/v0/rpc/list_payments HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                     b"Content-Type: application/json\r\nContent-Length: 2\r\n\r\n")
        await asyncio.sleep(1.5)  # three header timeouts: the head was complete, so no cut
        writer.write(b"{}")
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=10)
        assert head.startswith(b"HTTP/1.1 200"), head
        writer.close()

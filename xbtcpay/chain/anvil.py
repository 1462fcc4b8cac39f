"""A local anvil node as a child process (development and tests).

The binary is looked up in ``$ANVIL_BIN``, then ``<repo>/node_modules/@foundry-rs/
anvil-linux-amd64/bin/anvil`` (``npm install`` at the repository root puts it there), then
``anvil`` on PATH. The real binary is started directly, never through ``npx``: killing a
wrapper can leave the node running.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Self

import structlog

from xbtcpay.core.errors import ChainError

log = structlog.get_logger("xbtcpay.chain.anvil")

REPO_ROOT = Path(__file__).resolve().parents[2]
NPM_BINARY = Path("node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil")


class AnvilNotFound(ChainError):
    """No anvil binary could be found."""


def find_anvil(root: Path | None = None) -> str:
    """Path of the anvil binary; AnvilNotFound naming ``npm install`` when there is none."""
    candidates = [
        os.environ.get("ANVIL_BIN"),
        str((root or REPO_ROOT) / NPM_BINARY),
        str(Path.cwd() / NPM_BINARY),
        shutil.which("anvil"),
    ]
    for candidate in candidates:
        if candidate and os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    raise AnvilNotFound(
        "anvil not found: run `npm install` at the repository root "
        "(or set ANVIL_BIN, or put anvil on PATH)"
    )


def free_port() -> int:
    """A TCP port free on loopback right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Anvil:
    """An anvil child process: ``with Anvil() as node`` or ``async with``, or start()/stop().

    ``block_time`` (seconds) turns on interval mining; ``chain_id`` overrides 31337;
    ``args`` are passed to anvil as they are.
    """

    def __init__(
        self,
        *,
        port: int | None = None,
        chain_id: int | None = None,
        block_time: float | None = None,
        args: Sequence[str] = (),
        binary: str | None = None,
        startup_timeout: float = 20.0,
    ) -> None:
        self.port = port
        self.chain_id = chain_id
        self.block_time = block_time
        self.args = list(args)
        self.binary = binary
        self.startup_timeout = startup_timeout
        self.process: subprocess.Popen[bytes] | None = None
        self._stderr: IO[bytes] | None = None

    @property
    def url(self) -> str:
        """HTTP JSON-RPC url of the running node."""
        if self.port is None:
            raise ChainError("anvil is not started")
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        """Websocket url of the running node (same port)."""
        return self.url.replace("http://", "ws://", 1)

    def command(self) -> list[str]:
        """The command line anvil is started with."""
        cmd = [
            self.binary or find_anvil(),
            "--silent",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
        ]
        if self.chain_id is not None:
            cmd += ["--chain-id", str(self.chain_id)]
        if self.block_time is not None:
            cmd += ["--block-time", str(self.block_time)]
        return cmd + self.args

    def start(self) -> Self:
        """Start the node and wait until it answers eth_chainId (retrying on a port clash)."""
        chosen = self.port
        for _ in range(3):
            self.port = chosen or free_port()
            # a file, not a pipe: a pipe nobody reads fills up and blocks anvil
            self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 - closed in _reap()
            self.process = subprocess.Popen(  # noqa: S603
                self.command(),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=self._stderr,
            )
            if self._wait_ready():
                log.info("anvil.started", url=self.url, pid=self.process.pid)
                return self
            error = self._reap()
            if chosen is not None:
                break
        raise ChainError(f"anvil did not start: {error or 'no answer on ' + self.url}")

    def _wait_ready(self) -> bool:
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                return False
            if self._answers():
                return True
            time.sleep(0.05)
        return False

    def _answers(self) -> bool:
        body = json.dumps(
            {"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}
        ).encode()
        # self.url is http://127.0.0.1:<port> of the node this object started
        request = urllib.request.Request(  # noqa: S310
            self.url,
            body,
            {"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=1) as resp:  # noqa: S310
                return "result" in json.loads(resp.read())
        except (urllib.error.URLError, OSError, ValueError):
            return False

    def _reap(self) -> str:
        """Kill the process if alive and return what it said on stderr."""
        if self.process is None:
            return ""
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=10)
        self.process = None
        err = b""
        if self._stderr is not None:
            self._stderr.seek(0)
            err = self._stderr.read()
            self._stderr.close()
            self._stderr = None
        return err.decode(errors="replace").strip()[-500:]

    def stop(self) -> None:
        """Stop the node (SIGTERM, then SIGKILL after 5 s) and wait for it to exit."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self._reap()
        log.info("anvil.stopped", port=self.port)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    async def __aenter__(self) -> Self:
        await asyncio.to_thread(self.start)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await asyncio.to_thread(self.stop)

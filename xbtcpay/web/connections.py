"""Connection hygiene on both ports: idle and header timeouts, a per-client cap, fd limits.

One client holding ~1,100 idle connections used to take both ports offline at the default
limit of 1,024 open files. Four defences:

- ``idle_timeout``: aiohttp's keep-alive timeout (its default is about an hour). It also
  bounds a connection that sits in the idle state while a request head trickles in.
- ``header_timeout``: a new connection must deliver its first request head in this time.
- ``max_connections_per_client``: connections beyond it from one peer address are closed at
  once, before aiohttp sees them, so one address cannot use up the process's file descriptors.
- ``RLIMIT_NOFILE``: raised to the hard limit at start-up, with a warning when still low; the
  systemd unit sets ``LimitNOFILE``. Accept errors (EMFILE and friends) are logged once per
  interval with a count, instead of once per attempt with a traceback.
"""

from __future__ import annotations

import asyncio
import resource
import time
from collections.abc import Callable
from typing import Any

import structlog
from aiohttp import web

log = structlog.get_logger("xbtcpay.web")
WANTED_OPEN_FILES = 65536
LOW_OPEN_FILES = 4096
_HEAD_ENDS = (b"\n\r\n", b"\n\n")  # the blank line ending a head (CRLF, or bare LF)


class RateLimitedLog:
    """One line per ``interval`` for a repeated event, carrying how many were folded in."""

    def __init__(self, interval: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval = interval
        self.clock = clock
        self._last: dict[str, float] = {}
        self._folded: dict[str, int] = {}

    def emit(self, event: str, **fields: Any) -> bool:
        """Log ``event`` unless it was logged less than ``interval`` ago; True if logged."""
        now = self.clock()
        last = self._last.get(event)
        if last is not None and now - last < self.interval:
            self._folded[event] = self._folded.get(event, 0) + 1
            return False
        self._last[event] = now
        log.warning(event, suppressed=self._folded.pop(event, 0), **fields)
        return True


class ClientLimiter:
    """Open connections per peer address of one listening port."""

    def __init__(self, per_client: int, notes: RateLimitedLog) -> None:
        self.per_client = per_client
        self.notes = notes
        self.open: dict[str, int] = {}

    def admit(self, peer: str) -> bool:
        count = self.open.get(peer, 0)
        if self.per_client and count >= self.per_client:
            self.notes.emit("http.client_connection_limit", client_ip=peer, limit=self.per_client)
            return False
        self.open[peer] = count + 1
        return True

    def release(self, peer: str) -> None:
        count = self.open.get(peer, 0) - 1
        if count > 0:
            self.open[peer] = count
        else:
            self.open.pop(peer, None)


class GuardedProtocol(asyncio.Protocol):
    """Wraps aiohttp's request handler: refuses over-limit peers, times the first head."""

    def __init__(
        self, inner: asyncio.Protocol, limiter: ClientLimiter, header_timeout: float
    ) -> None:
        self.inner = inner
        self.limiter = limiter
        self.header_timeout = header_timeout
        self.peer: str | None = None
        self.transport: asyncio.Transport | None = None
        self._head_timer: asyncio.TimerHandle | None = None
        self._tail = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        peername = transport.get_extra_info("peername")
        peer = str(peername[0]) if peername else ""
        if not self.limiter.admit(peer):
            transport.abort()
            return
        self.peer, self.transport = peer, transport
        if self.header_timeout > 0:
            self._head_timer = asyncio.get_running_loop().call_later(
                self.header_timeout, self._head_overdue
            )
        self.inner.connection_made(transport)

    def _head_overdue(self) -> None:
        self._head_timer = None
        if self.transport is not None:
            log.info("http.header_timeout", client_ip=self.peer)
            self.transport.abort()

    def data_received(self, data: bytes) -> None:
        if self.transport is None:
            return
        if self._head_timer is not None:
            window = self._tail + data
            if any(end in window for end in _HEAD_ENDS):
                self._head_timer.cancel()
                self._head_timer = None
            self._tail = window[-3:]
        self.inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self.inner.eof_received() if self.transport is not None else None

    def connection_lost(self, exc: Exception | None) -> None:
        if self.transport is None:
            return  # refused in connection_made: aiohttp never saw it
        if self._head_timer is not None:
            self._head_timer.cancel()
        assert self.peer is not None
        self.limiter.release(self.peer)
        self.transport = None
        self.inner.connection_lost(exc)

    def pause_writing(self) -> None:
        self.inner.pause_writing()

    def resume_writing(self) -> None:
        self.inner.resume_writing()


class GuardedSite(web.TCPSite):
    """A TCPSite whose connections go through GuardedProtocol."""

    def __init__(
        self,
        runner: web.BaseRunner,
        host: str,
        port: int,
        *,
        per_client: int,
        header_timeout: float,
        notes: RateLimitedLog,
    ) -> None:
        super().__init__(runner, host, port, reuse_address=True)
        self.limiter = ClientLimiter(per_client, notes)
        self.header_timeout = header_timeout

    async def start(self) -> None:
        await web.BaseSite.start(self)  # registers the site with the runner
        server = self._runner.server
        assert server is not None

        def factory() -> GuardedProtocol:
            return GuardedProtocol(server(), self.limiter, self.header_timeout)

        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            factory, self._host, self._port, reuse_address=True, backlog=self._backlog
        )


def accept_error_handler(
    notes: RateLimitedLog,
) -> Callable[[asyncio.AbstractEventLoop, dict[str, Any]], None]:
    """Loop exception handler: accept() out of resources logged once per interval."""

    def handle(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        if context.get("message") == "socket.accept() out of system resource":
            exc = context.get("exception")
            notes.emit("http.accept_failed", error=type(exc).__name__, detail=str(exc))
            return
        if closed_listener_retry(context):
            return
        loop.default_exception_handler(context)

    return handle


def closed_listener_retry(context: dict[str, Any]) -> bool:
    """After accept() ran out of descriptors, asyncio retries listening a second later; a
    port closed in that second (the daemon stopping) makes the retry find descriptor -1.
    Nothing is lost (the port is closing anyway), so it is not reported as a crash."""
    exc = context.get("exception")
    return (
        isinstance(exc, ValueError)
        and "_start_serving" in str(context.get("message", ""))
        and "-1" in str(exc)
    )


def raise_open_files_limit(wanted: int = WANTED_OPEN_FILES) -> int:
    """Raise RLIMIT_NOFILE's soft limit toward ``wanted`` (up to the hard limit); warn if low."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    if soft != resource.RLIM_INFINITY and soft < LOW_OPEN_FILES:
        log.warning(
            "daemon.open_files_limit_low",
            limit=soft,
            hard_limit=hard,
            advice=f"raise LimitNOFILE (systemd) or ulimit -n to {wanted}",
        )
    return int(soft)

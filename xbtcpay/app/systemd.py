"""systemd integration without dependencies: the sd_notify datagram protocol and a watchdog.

Under ``Type=notify`` systemd passes ``NOTIFY_SOCKET`` (a filesystem path, or ``@name`` for an
abstract socket) and, when ``WatchdogSec=`` is set, ``WATCHDOG_USEC`` (and ``WATCHDOG_PID``).
The daemon sends newline-separated ``KEY=VALUE`` datagrams to that socket::

    READY=1       both ports are bound and migrations ran
    STATUS=...    one human-readable line shown by ``systemctl status``
    WATCHDOG=1    still alive (sent from the event loop, so a stuck loop stops the pings)
    STOPPING=1    graceful shutdown has begun

Outside systemd (no ``NOTIFY_SOCKET``) every call is a no-op, so the same code path runs in a
terminal, in tests and under the service manager.
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass

import structlog

log = structlog.get_logger("xbtcpay.systemd")


def _socket_address(value: str) -> str | None:
    """The ``sendto`` address for a NOTIFY_SOCKET value, or None when unusable."""
    if value.startswith("@") and len(value) > 1:
        return "\0" + value[1:]
    if value.startswith("/"):
        return value
    return None  # e.g. "vsock:..." (VM guests): not needed on a host service


def _watchdog_interval(environ: Mapping[str, str], pid: int) -> float | None:
    """Seconds between required pings, or None when the watchdog is off or meant for another
    process (``WATCHDOG_PID`` names the process systemd watches)."""
    owner = environ.get("WATCHDOG_PID", "")
    if owner and (not owner.isdigit() or int(owner) != pid):
        return None
    usec = environ.get("WATCHDOG_USEC", "")
    if not usec.isdigit() or int(usec) == 0:
        return None
    return int(usec) / 1_000_000


@dataclass(frozen=True)
class Notifier:
    """Sends state notifications to systemd; every method is a no-op when ``address`` is None."""

    address: str | None = None
    watchdog_interval: float | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, pid: int | None = None) -> Notifier:
        """Build from ``NOTIFY_SOCKET``, ``WATCHDOG_USEC`` and ``WATCHDOG_PID``.

        ``environ`` and ``pid`` default to this process's environment and id.
        """
        env = os.environ if environ is None else environ
        raw = env.get("NOTIFY_SOCKET", "")
        address = _socket_address(raw) if raw else None
        if raw and address is None:
            log.warning("systemd.notify_socket_unsupported", notify_socket=raw)
        if address is None:
            return cls()
        interval = _watchdog_interval(env, os.getpid() if pid is None else pid)
        return cls(address=address, watchdog_interval=interval)

    @property
    def enabled(self) -> bool:
        """True when running under a service manager that listens for notifications."""
        return self.address is not None

    def notify(self, *fields: str) -> bool:
        """Send ``KEY=VALUE`` fields in one datagram; True when it was sent.

        A failed send is logged, not raised: the service manager enforces start and
        watchdog timeouts itself, and a notification must never take payments down.
        """
        if self.address is None:
            return False
        message = "\n".join(fields).encode("utf-8")
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                sock.sendto(message, self.address)
        except OSError as exc:
            log.warning(
                "systemd.notify_failed",
                error=exc.strerror or str(exc),
                fields=[f.split("=", 1)[0] for f in fields],
            )
            return False
        return True

    def ready(self, status: str | None = None) -> bool:
        """Start-up finished: ports bound, migrations applied, background tasks running."""
        fields = ["READY=1"] + ([_status(status)] if status else [])
        return self.notify(*fields)

    def stopping(self) -> bool:
        """Graceful shutdown has begun."""
        return self.notify("STOPPING=1")

    def status(self, text: str) -> bool:
        """Set the one-line status shown by ``systemctl status``."""
        return self.notify(_status(text))

    def watchdog(self) -> bool:
        """Tell the watchdog this process is alive."""
        return self.notify("WATCHDOG=1")


def _status(text: str) -> str:
    return "STATUS=" + " ".join(text.split())


async def watchdog_loop(notifier: Notifier) -> None:
    """Ping the watchdog at half its interval until cancelled; returns at once when the
    watchdog is off. Pings come from the event loop itself, so a blocked loop is detected."""
    interval = notifier.watchdog_interval
    if not notifier.enabled or interval is None:
        return
    log.info("systemd.watchdog_started", interval=interval)
    try:
        while True:
            notifier.watchdog()
            await asyncio.sleep(interval / 2)
    except asyncio.CancelledError:
        log.debug("systemd.watchdog_stopped")
        raise

"""A real daemon running on its own event loop in a background thread (for sync test drivers
such as hypothesis), plus a tiny synchronous HTTP client over loopback."""

from __future__ import annotations

import asyncio
import http.client
import threading
from pathlib import Path
from typing import Any

from tests.harness import base_config, write_config
from xbtcpay.app.config import parse_config
from xbtcpay.app.daemon import Daemon


class ThreadedDaemon:
    def __init__(self, tmp_path: Path, overrides: dict[str, Any] | None = None) -> None:
        raw = base_config(tmp_path, overrides)
        self.config = parse_config(raw, write_config(tmp_path, raw))
        self.loop = asyncio.new_event_loop()
        self.daemon = Daemon(self.config, watcher=False, expiry_interval=0.5)
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def __enter__(self) -> ThreadedDaemon:
        self.thread.start()
        self.run(self.daemon.start())
        return self

    def __exit__(self, *exc: object) -> None:
        self.run(self.daemon.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)

    def run(self, coro: Any, timeout: float = 30) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def request(
        self,
        port: str,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, bytes]:
        number = self.daemon.rpc_port if port == "rpc" else self.daemon.public_port
        conn = http.client.HTTPConnection("127.0.0.1", number, timeout=30)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            resp = conn.getresponse()
            return resp.status, resp.read()
        finally:
            conn.close()

    def payment_count(self) -> int:
        rt = self.daemon.parts
        assert rt is not None
        counts = self.run(rt.payments.count_by_status())
        return int(sum(counts.values()))

    def event_count(self) -> int:
        rt = self.daemon.parts
        assert rt is not None
        row = self.run(rt.db.fetchone("SELECT COUNT(*) FROM payment_events"))
        return int(row[0])

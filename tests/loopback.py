"""A restartable aiohttp server on a fixed loopback port: the lifecycle the test proxies share."""

from __future__ import annotations

from typing import ClassVar, Self

import aiohttp
from aiohttp import web


class LoopbackServer:
    """``start()`` listens (again) on ``self.port``; ``stop()`` makes the port refuse
    connections; ``close()`` also closes the upstream session. Subclasses define ``_handle``
    and the ``port``, ``_runner`` and ``_session`` attributes."""

    port: int
    _runner: web.AppRunner | None
    _session: aiohttp.ClientSession | None
    handler_cancellation: ClassVar[bool] = False
    upstream_timeout: ClassVar[float | None] = None

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        raise NotImplementedError

    async def start(self) -> Self:
        if self._session is None:
            timeout = aiohttp.ClientTimeout(total=self.upstream_timeout)
            self._session = aiohttp.ClientSession(timeout=timeout)
        app = web.Application()
        app.router.add_post("/", self._handle)
        self._runner = web.AppRunner(
            app,
            access_log=None,
            shutdown_timeout=0.1,
            handler_cancellation=self.handler_cancellation,
        )
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port, reuse_address=True).start()
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def close(self) -> None:
        await self.stop()
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

"""The shop's own session service on loopback: RFC 7662-style introspection of the opaque
session ids its login hands out (what a Valuverse shop adds next to its login)."""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.harness import free_port


@dataclass
class SessionService:
    secret: str = "introspection-bearer-secret"
    sessions: dict[str, dict[str, Any]] = field(default_factory=dict)
    calls: int = 0
    down: bool = False  # answer 500
    stall: float = 0.0  # seconds before answering
    port: int = field(default_factory=free_port)
    _runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/sessions/introspect"

    def login(self, customer: str, expires_at: int, network: str | None = None) -> str:
        """What the shop's login gives the app: an opaque id."""
        session_id = "vv_" + secrets.token_urlsafe(24)
        claims: dict[str, Any] = {"sub": customer, "exp": expires_at}
        if network is not None:
            claims["net"] = network
        self.sessions[session_id] = claims
        return session_id

    def logout(self, session_id: str) -> None:
        self.sessions.pop(session_id, None)

    async def _introspect(self, request: web.Request) -> web.Response:
        self.calls += 1
        if self.stall:
            await asyncio.sleep(self.stall)
        if self.down:
            return web.Response(status=500)
        if request.headers.get("Authorization") != f"Bearer {self.secret}":
            return web.json_response({"error": "invalid_client"}, status=401)
        form = await request.post()
        claims = self.sessions.get(str(form.get("token", "")))
        if claims is None:
            return web.json_response({"active": False})
        return web.json_response({"active": True, **claims})

    async def __aenter__(self) -> SessionService:
        app = web.Application()
        app.router.add_post("/sessions/introspect", self._introspect)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

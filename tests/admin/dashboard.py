"""Dashboard users and an HTTP client that logs in like a browser (cookies, CSRF token)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp

from tests.harness import DaemonHandle
from xbtcpay.storage.admin_users import AdminUserStore
from xbtcpay.web.admin.accounts import hash_password

PASSWORD = "correct horse battery staple"
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


async def add_user(d: DaemonHandle, name: str, role: str, password: str = PASSWORD) -> None:
    stored = await AdminUserStore(d.runtime.db).create(
        name, role, hash_password(password), int(d.processor.now())
    )
    assert stored


class Browser:
    """One browser: a cookie jar and the dashboard's URL."""

    def __init__(self, session: aiohttp.ClientSession, base: str) -> None:
        self.session = session
        self.base = base
        self.csrf = ""

    async def login(self, name: str, password: str = PASSWORD) -> aiohttp.ClientResponse:
        async with self.session.post(
            f"{self.base}/admin/login",
            data={"name": name, "password": password, "next": "/admin/"},
            allow_redirects=False,
        ) as resp:
            await resp.read()
        if resp.status == 303:
            await self.get("/admin/")
        return resp

    async def get(self, path: str, **kw: Any) -> tuple[int, str]:
        async with self.session.get(self.base + path, allow_redirects=False, **kw) as resp:
            text = await resp.text()
        found = _CSRF.search(text)
        if found:
            self.csrf = found.group(1)
        return resp.status, text

    async def post(
        self, path: str, data: dict[str, Any] | None = None, *, csrf: bool = True, **kw: Any
    ) -> tuple[int, str, str]:
        form = dict(data or {})
        if csrf:
            form["csrf"] = self.csrf
        async with self.session.post(
            self.base + path, data=form, allow_redirects=False, **kw
        ) as resp:
            return resp.status, await resp.text(), resp.headers.get("Location", "")


@asynccontextmanager
async def browser(d: DaemonHandle, base: str | None = None) -> AsyncIterator[Browser]:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        yield Browser(session, base or d.rpc_url)

"""Opaque session ids, asked of the shop (``sessions.introspect_url``).

An app may hold the session id the shop's own login gave it instead of a JWT. xbtcpay asks
the shop about it the way OAuth 2.0 token introspection (RFC 7662) does: a form POST of
``token=<id>`` (with ``Authorization: Bearer <sessions.introspect_secret>`` when set), answered
``{"active": true, "sub": <customer>, "exp": <unix time>, "net": <network>?}`` or
``{"active": false}``.

- The call goes through the postback HTTP client: an address that is not public is refused
  unless ``postback.allow_private``, like a postback URL, and ``introspect_timeout`` bounds it.
- Answers are cached by the id's SHA-256: an active one for ``introspect_cache`` seconds (never
  past its ``exp``), an inactive one for ``introspect_negative_cache`` seconds; concurrent
  lookups of one id share one call.
- When the shop cannot answer (refused address, timeout, not 200, not the documented JSON),
  the session fails closed: ``SessionsUnavailable`` (HTTP 503), nothing granted, nothing cached.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, Final

import aiohttp
import structlog

from xbtcpay.commerce.errors import SessionsUnavailable, Unauthorized
from xbtcpay.commerce.settings import SessionSettings
from xbtcpay.core.jsonio import JsonError, loads

log = structlog.get_logger("xbtcpay.sessions")
MAX_ENTRIES: Final = 10_000
MAX_ANSWER: Final = 64 * 1024
Claims = dict[str, Any]


class Introspector:
    """Asks ``sessions.introspect_url`` about opaque session ids, with a small cache."""

    def __init__(
        self, settings: SessionSettings, http: aiohttp.ClientSession, clock: Callable[[], float]
    ) -> None:
        assert settings.introspect_url is not None
        self.url = settings.introspect_url
        self.settings = settings
        self.http = http
        self.clock = clock
        self._cache: OrderedDict[str, tuple[float, Claims | None]] = OrderedDict()
        self._pending: dict[str, asyncio.Future[Claims | None]] = {}

    async def claims(self, token: str) -> Claims:
        """The active session's claims; Unauthorized when inactive, SessionsUnavailable when
        the shop cannot say."""
        key = hashlib.sha256(token.encode()).hexdigest()
        cached = self._cache.get(key)
        if cached is not None and cached[0] > self.clock():
            found = cached[1]
        else:
            found = await self._shared_lookup(key, token)
        if found is None:
            raise Unauthorized("session not active")
        return found

    async def _shared_lookup(self, key: str, token: str) -> Claims | None:
        pending = self._pending.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[Claims | None] = asyncio.get_running_loop().create_future()
        self._pending[key] = future
        try:
            found = await self._ask(token)
            future.set_result(found)
            self._remember(key, found)
            return found
        except asyncio.CancelledError:
            future.cancel()
            raise
        except Exception as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: no "never retrieved" warning if nobody waits
            raise
        finally:
            del self._pending[key]

    def _remember(self, key: str, found: Claims | None) -> None:
        now = self.clock()
        if found is None:
            until = now + self.settings.introspect_negative_cache
        else:
            until = min(now + self.settings.introspect_cache, float(found["exp"]))
        self._cache[key] = (until, found)
        self._cache.move_to_end(key)
        while len(self._cache) > MAX_ENTRIES:
            self._cache.popitem(last=False)

    async def _ask(self, token: str) -> Claims | None:
        headers = {"Accept": "application/json"}
        if self.settings.introspect_secret is not None:
            headers["Authorization"] = f"Bearer {self.settings.introspect_secret.reveal()}"
        timeout = aiohttp.ClientTimeout(total=self.settings.introspect_timeout)
        try:
            async with self.http.post(
                self.url, data={"token": token}, headers=headers, timeout=timeout
            ) as resp:
                body = await resp.content.read(MAX_ANSWER + 1)
                status = resp.status
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            log.warning("sessions.introspection_failed", error=type(exc).__name__)
            raise SessionsUnavailable("the shop's session service did not answer") from None
        if status != 200 or len(body) > MAX_ANSWER:
            log.warning("sessions.introspection_refused", status=status)
            raise SessionsUnavailable("the shop's session service did not answer")
        return _active_claims(body)


def _active_claims(body: bytes) -> Claims | None:
    """The claims of an active answer, None for an inactive one."""
    try:
        answer = loads(body)
    except JsonError:
        answer = None
    if not isinstance(answer, dict) or not isinstance(answer.get("active"), bool):
        log.warning("sessions.introspection_malformed")
        raise SessionsUnavailable("the shop's session service answered nonsense")
    if not answer["active"]:
        return None
    exp = answer.get("exp")
    if isinstance(exp, bool) or not isinstance(exp, int):
        log.warning("sessions.introspection_malformed", why="exp")
        raise SessionsUnavailable("the shop's session service answered without exp")
    return answer

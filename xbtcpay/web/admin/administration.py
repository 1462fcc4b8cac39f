"""The admin's pages: users, API keys and the audit log (who did what, when, from where)."""

from __future__ import annotations

from aiohttp import web

from xbtcpay.storage.api_keys import ApiKey
from xbtcpay.web.admin.guard import PREFIX
from xbtcpay.web.admin.pages import PAGE_SIZE, Pages, int_or
from xbtcpay.web.key_auth import mint_key
from xbtcpay.web.scopes import SCOPES, parse_scopes


class Administration(Pages):
    """Pages for the admin role only (the audit log for every role)."""

    async def audit_log(self, request: web.Request) -> web.Response:
        self._who(request)
        page = max(1, int_or(request.query.get("page"), 1))
        rows = await self.p.audit.recent(PAGE_SIZE + 1, (page - 1) * PAGE_SIZE)
        return self.render(
            request, "audit.html", entries=rows[:PAGE_SIZE], page=page, more=len(rows) > PAGE_SIZE
        )

    # -- API keys (admin) --------------------------------------------------------

    async def key_list(
        self, request: web.Request, error: str = "", made: str = "", status: int = 200
    ) -> web.Response:
        self._who(request, "admin")
        now = self.p.clock()
        keys = [(k, _key_state(k, now)) for k in await self.p.keys.list()]
        return self.render(
            request,
            "keys.html",
            status,
            keys=keys,
            scopes=sorted(SCOPES),
            error=error,
            made=made,
            note=request.query.get("note", ""),
        )

    async def key_create(self, request: web.Request) -> web.Response:
        self._who(request, "admin")
        form = await request.post()
        try:
            scopes = parse_scopes(",".join(str(s) for s in form.getall("scope", [])))
        except ValueError as exc:
            return await self.key_list(request, error=str(exc), status=400)
        days = int_or(str(form.get("days", "")), 0)
        now = int(self.p.clock())
        expires_at = now + days * 86400 if days > 0 else None
        name = str(form.get("name", ""))[:64]
        key_id, key, hashed = mint_key()
        await self.p.keys.create(ApiKey(key_id, name, hashed, scopes, now, expires_at, None))
        await self._audit(
            request, "key.create", key_id, scopes=sorted(scopes), expires_at=expires_at, name=name
        )
        return await self.key_list(request, made=key)

    # -- users (admin) -----------------------------------------------------------

    async def user_list(self, request: web.Request) -> web.Response:
        self._who(request, "admin")
        accounts = self.p.accounts
        sessions = await accounts.sessions.open_sessions(int(self.p.clock()))
        open_by_user: dict[str, int] = {}
        for session in sessions:
            open_by_user[session.user_name] = open_by_user.get(session.user_name, 0) + 1
        return self.render(
            request,
            "users.html",
            users=await accounts.users.list(),
            open_by_user=open_by_user,
            note=request.query.get("note", ""),
        )

    async def user_disable(self, request: web.Request) -> web.Response:
        who = self._who(request, "admin")
        name = request.match_info["name"]
        if name == who.user.name:
            raise web.HTTPConflict(text="You cannot disable yourself.", content_type="text/plain")
        now = int(self.p.clock())
        if not await self.p.accounts.users.update(name, now, disabled=True):
            raise web.HTTPNotFound(text="No such user.", content_type="text/plain")
        ended = await self.p.accounts.sessions.revoke_user(name, now)
        await self._audit(request, "user.disable", name, sessions_ended=ended)
        raise self._back(f"{PREFIX}/users", "disabled")

    async def user_enable(self, request: web.Request) -> web.Response:
        self._who(request, "admin")
        name = request.match_info["name"]
        if not await self.p.accounts.users.update(name, int(self.p.clock()), disabled=False):
            raise web.HTTPNotFound(text="No such user.", content_type="text/plain")
        await self._audit(request, "user.enable", name)
        raise self._back(f"{PREFIX}/users", "enabled")

    async def key_revoke(self, request: web.Request) -> web.Response:
        self._who(request, "admin")
        key_id = request.match_info["id"]
        if not await self.p.keys.revoke(key_id, int(self.p.clock())):
            raise web.HTTPNotFound(text="No active key with this id.", content_type="text/plain")
        await self._audit(request, "key.revoke", key_id)
        raise self._back(f"{PREFIX}/keys", "revoked")


def _key_state(key: ApiKey, now: float) -> str:
    if key.revoked_at is not None and key.revoked_at <= now:
        return "revoked"
    return "active" if key.usable_at(now) else "expired"

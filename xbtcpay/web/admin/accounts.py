"""Dashboard users: roles, Argon2id passwords, login with a rate limit, sessions, CSRF.

- Roles are ranked: a ``viewer`` reads, an ``operator`` also redelivers postbacks, cancels
  payments and manages vouchers, an ``admin`` also manages users and API keys.
- Passwords are hashed with Argon2id (argon2-cffi's defaults, RFC 9106's second
  recommendation); hashing runs on a worker thread so a login does not stall the port.
- A login is refused, before the password is even checked, while its user name or its
  client address has had too many failures within ``admin.login_window``; an unknown name
  costs the same hash as a known one, so timing does not tell which names exist.
- A session is a random cookie token; only its SHA-256 hash is stored, with the CSRF token
  every form and change must send back. It ends after ``admin.session_idle`` without a
  request, ``admin.session_lifetime`` after login, at logout, or when its user is disabled
  or changes password.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from xbtcpay.storage.admin_audit import AuditLog
from xbtcpay.storage.admin_sessions import AdminSession, AdminSessionStore
from xbtcpay.storage.admin_users import AdminUser, AdminUserStore
from xbtcpay.web.admin.settings import AdminConfig

ROLES: Final = ("viewer", "operator", "admin")
_RANK: Final = {role: rank for rank, role in enumerate(ROLES)}
MIN_PASSWORD: Final = 12
_TOUCH_EVERY: Final = 60  # seconds between writes of a session's last use
_HASHER: Final = PasswordHasher()


def may(role: str, needed: str) -> bool:
    """Whether ``role`` includes what ``needed`` may do."""
    return _RANK.get(role, -1) >= _RANK[needed]


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def check_password(password: str) -> None:
    """ValueError when a new password is too weak to accept."""
    if len(password) < MIN_PASSWORD:
        raise ValueError(f"a password needs at least {MIN_PASSWORD} characters")


def hash_password(password: str) -> str:
    encoded: str = _HASHER.hash(password)
    return encoded


def password_matches(encoded: str, password: str) -> bool:
    try:
        return bool(_HASHER.verify(encoded, password))
    except (VerificationError, InvalidHashError):
        return False


_UNKNOWN_USER_HASH: Final = hash_password(secrets.token_urlsafe(16))


class LoginRefused(Exception):
    """A refused login: ``locked`` (429, too many failures) or a wrong name/password (401)."""

    def __init__(self, locked: bool) -> None:
        super().__init__("too many failed logins" if locked else "wrong name or password")
        self.locked = locked


@dataclass(frozen=True)
class SignedIn:
    """The user of a live session (``token`` only right after login, for the cookie)."""

    user: AdminUser
    session: AdminSession
    token: str = ""

    def csrf_ok(self, presented: str | None) -> bool:
        return bool(presented) and hmac.compare_digest(
            self.session.csrf_token.encode(), (presented or "").encode()
        )


class Accounts:
    """Logins and sessions over the users, sessions and audit tables."""

    def __init__(
        self,
        users: AdminUserStore,
        sessions: AdminSessionStore,
        audit: AuditLog,
        config: AdminConfig,
        clock: Callable[[], float],
    ) -> None:
        self.users = users
        self.sessions = sessions
        self.audit = audit
        self.config = config
        self.clock = clock

    async def login(self, name: str, password: str, address: str) -> SignedIn:
        now = int(self.clock())
        since = now - self.config.login_window
        user_key, address_key = f"user:{name.lower()[:128]}", f"ip:{address}"
        failures = await self.sessions.failures([user_key, address_key], since)
        if (
            failures[user_key] >= self.config.login_max_failures
            or failures[address_key] >= self.config.login_max_failures_per_address
        ):
            await self.audit.append(
                at=now, actor=name[:128], action="login.locked", target=name[:128], address=address
            )
            raise LoginRefused(locked=True)
        user = await self.users.get(name)
        encoded = user.password_hash if user is not None else _UNKNOWN_USER_HASH
        matches = await asyncio.to_thread(password_matches, encoded, password)
        if user is None or user.disabled or not matches:
            await self.sessions.record_failure([user_key, address_key], now, since)
            await self.audit.append(
                at=now, actor=name[:128], action="login.failed", target=name[:128], address=address
            )
            raise LoginRefused(locked=False)
        await self.sessions.clear_failures(user_key)
        token = secrets.token_urlsafe(32)
        session = AdminSession(
            token_hash=token_hash(token),
            user_name=user.name,
            csrf_token=secrets.token_urlsafe(32),
            address=address,
            created_at=now,
            seen_at=now,
            expires_at=now + min(self.config.session_idle, self.config.session_lifetime),
            revoked_at=None,
        )
        await self.sessions.create(session)
        await self.audit.append(
            at=now, actor=user.name, action="login", target=user.name, address=address
        )
        return SignedIn(user, session, token)

    async def signed_in(self, token: str | None) -> SignedIn | None:
        """The live session of a cookie token, else None (its idle deadline pushed on)."""
        if not token or len(token) > 128:
            return None
        now = int(self.clock())
        session = await self.sessions.get(token_hash(token))
        if (
            session is None
            or session.revoked_at is not None
            or session.expires_at <= now
            or session.created_at + self.config.session_lifetime <= now
        ):
            return None
        user = await self.users.get(session.user_name)
        if user is None or user.disabled:
            return None
        if now - session.seen_at >= _TOUCH_EVERY:
            deadline = min(
                now + self.config.session_idle, session.created_at + self.config.session_lifetime
            )
            await self.sessions.touch(session.token_hash, now, deadline)
        return SignedIn(user, session)

    async def logout(self, who: SignedIn, address: str) -> None:
        now = int(self.clock())
        await self.sessions.revoke(who.session.token_hash, now)
        await self.audit.append(
            at=now, actor=who.user.name, action="logout", target=who.user.name, address=address
        )

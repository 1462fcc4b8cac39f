"""The ``admin_sessions`` and ``admin_login_failures`` tables (migration ``231_admin.sql``).

A session row is keyed by the SHA-256 hash of its cookie token and carries the CSRF token
of its forms; it ends at ``expires_at`` (its idle deadline, pushed on while it is used,
never past the absolute lifetime the caller enforces) or when revoked. Failed logins are
kept per limiter key, shared by every replica, and counted under a row lock.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from xbtcpay.core.persistence import Engine, UnitOfWork

_COLUMNS = "token_hash, user_name, csrf_token, address, created_at, seen_at, expires_at, revoked_at"


@dataclass(frozen=True)
class AdminSession:
    token_hash: str
    user_name: str
    csrf_token: str
    address: str
    created_at: int
    seen_at: int
    expires_at: int
    revoked_at: int | None


def _row(row: Any) -> AdminSession:
    return AdminSession(
        token_hash=row["token_hash"],
        user_name=row["user_name"],
        csrf_token=row["csrf_token"],
        address=row["address"],
        created_at=int(row["created_at"]),
        seen_at=int(row["seen_at"]),
        expires_at=int(row["expires_at"]),
        revoked_at=None if row["revoked_at"] is None else int(row["revoked_at"]),
    )


class AdminSessionStore:
    def __init__(self, db: Engine) -> None:
        self.db = db

    async def create(self, session: AdminSession) -> None:
        async def work(uow: UnitOfWork) -> None:
            await uow.execute(
                f"INSERT INTO admin_sessions ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    session.token_hash,
                    session.user_name,
                    session.csrf_token,
                    session.address,
                    session.created_at,
                    session.seen_at,
                    session.expires_at,
                    session.revoked_at,
                ),
            )

        await self.db.transact(work)

    async def get(self, token_hash: str) -> AdminSession | None:
        row = await self.db.point(
            f"SELECT {_COLUMNS} FROM admin_sessions WHERE token_hash = ?", (token_hash,)
        )
        return None if row is None else _row(row)

    async def touch(self, token_hash: str, seen_at: int, expires_at: int) -> None:
        async def work(uow: UnitOfWork) -> None:
            await uow.execute(
                "UPDATE admin_sessions SET seen_at = ?, expires_at = ?"
                " WHERE token_hash = ? AND revoked_at IS NULL",
                (seen_at, expires_at, token_hash),
            )

        await self.db.transact(work)

    async def revoke(self, token_hash: str, at: int) -> bool:
        async def work(uow: UnitOfWork) -> int:
            return await uow.execute(
                "UPDATE admin_sessions SET revoked_at = ?"
                " WHERE token_hash = ? AND revoked_at IS NULL",
                (at, token_hash),
            )

        return await self.db.transact(work) > 0

    async def revoke_user(self, user_name: str, at: int) -> int:
        """Revoke every open session of a user (password changed, user disabled)."""

        async def work(uow: UnitOfWork) -> int:
            return await uow.execute(
                "UPDATE admin_sessions SET revoked_at = ?"
                " WHERE user_name = ? AND revoked_at IS NULL",
                (at, user_name),
            )

        return await self.db.transact(work)

    async def open_sessions(self, now: int) -> list[AdminSession]:
        rows = await self.db.fetchall(
            f"SELECT {_COLUMNS} FROM admin_sessions WHERE revoked_at IS NULL AND expires_at > ?"
            " ORDER BY seen_at DESC",
            (now,),
        )
        return [_row(r) for r in rows]

    async def failures(self, keys: list[str], since: int) -> dict[str, int]:
        """Failed logins per limiter key at or after ``since``."""
        out = {key: 0 for key in keys}
        for key in keys:
            row = await self.db.fetchone(
                "SELECT times FROM admin_login_failures WHERE key = ?", (key,)
            )
            if row is not None:
                out[key] = sum(1 for t in json.loads(row["times"]) if t >= since)
        return out

    async def record_failure(self, keys: list[str], now: int, since: int) -> None:
        """Add a failure at ``now`` to each key, dropping those before ``since``."""

        async def work(uow: UnitOfWork) -> None:
            for key in keys:
                row = await uow.fetchone(
                    "SELECT times FROM admin_login_failures WHERE key = ?" + uow.for_update,
                    (key,),
                )
                times = [t for t in json.loads(row["times"]) if t >= since] if row else []
                times.append(now)
                await uow.execute(
                    "INSERT INTO admin_login_failures (key, times, last_at) VALUES (?, ?, ?)"
                    " ON CONFLICT (key) DO UPDATE SET times = excluded.times,"
                    " last_at = excluded.last_at",
                    (key, json.dumps(times[-100:]), now),
                )

        await self.db.transact(work)

    async def clear_failures(self, key: str) -> None:
        async def work(uow: UnitOfWork) -> None:
            await uow.execute("DELETE FROM admin_login_failures WHERE key = ?", (key,))

        await self.db.transact(work)

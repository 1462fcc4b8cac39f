"""The ``admin_users`` table (migration ``231_admin.sql``): who may use the dashboard.

A user has a name, a role (viewer, operator, admin) and an Argon2id password hash; a
disabled user keeps its row (the audit log names it) but cannot log in.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from xbtcpay.core.errors import ConstraintViolation
from xbtcpay.core.persistence import Engine, UnitOfWork

_COLUMNS = "name, role, password_hash, disabled, created_at, updated_at"


@dataclass(frozen=True)
class AdminUser:
    name: str
    role: str
    password_hash: str
    disabled: bool
    created_at: int
    updated_at: int


def _row(row: Any) -> AdminUser:
    return AdminUser(
        name=row["name"],
        role=row["role"],
        password_hash=row["password_hash"],
        disabled=bool(row["disabled"]),
        created_at=int(row["created_at"]),
        updated_at=int(row["updated_at"]),
    )


class AdminUserStore:
    def __init__(self, db: Engine) -> None:
        self.db = db

    async def create(self, name: str, role: str, password_hash: str, now: int) -> bool:
        """False when the name is taken."""

        async def work(uow: UnitOfWork) -> None:
            await uow.execute(
                f"INSERT INTO admin_users ({_COLUMNS}) VALUES (?, ?, ?, 0, ?, ?)",
                (name, role, password_hash, now, now),
            )

        try:
            await self.db.transact(work)
        except ConstraintViolation:
            return False
        return True

    async def get(self, name: str) -> AdminUser | None:
        row = await self.db.point(f"SELECT {_COLUMNS} FROM admin_users WHERE name = ?", (name,))
        return None if row is None else _row(row)

    async def list(self) -> list[AdminUser]:
        rows = await self.db.fetchall(f"SELECT {_COLUMNS} FROM admin_users ORDER BY name")
        return [_row(r) for r in rows]

    async def update(self, name: str, now: int, **changes: Any) -> bool:
        """Set ``password_hash``, ``role`` and/or ``disabled``; False for an unknown user."""
        allowed = {"password_hash", "role", "disabled"}
        if not changes or set(changes) - allowed:
            raise ValueError(f"can change only {sorted(allowed)}")
        sets = ", ".join(f"{column} = ?" for column in changes)
        values = [int(v) if isinstance(v, bool) else v for v in changes.values()]

        async def work(uow: UnitOfWork) -> int:
            return await uow.execute(
                f"UPDATE admin_users SET {sets}, updated_at = ? WHERE name = ?",
                (*values, now, name),
            )

        return await self.db.transact(work) > 0

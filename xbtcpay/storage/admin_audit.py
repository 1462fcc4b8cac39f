"""The ``admin_audit`` table (migration ``231_admin.sql``): every change made through the
dashboard or ``xbtcpay admin``, who made it, when and from where.

Append-only: this module, the table's only writer, inserts and reads; nothing updates or
deletes a row.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from xbtcpay.core.persistence import Engine, UnitOfWork


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: int
    actor: str
    action: str
    target: str
    address: str
    details: Mapping[str, Any]


class AuditLog:
    def __init__(self, db: Engine) -> None:
        self.db = db

    async def append(
        self,
        *,
        at: int,
        actor: str,
        action: str,
        target: str,
        address: str,
        details: Mapping[str, Any] | None = None,
    ) -> None:
        async def work(uow: UnitOfWork) -> None:
            await uow.execute(
                "INSERT INTO admin_audit (at, actor, action, target, address, details)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (at, actor, action, target, address, json.dumps(dict(details or {}))),
            )

        await self.db.transact(work)

    async def recent(self, limit: int = 100, offset: int = 0) -> list[AuditEntry]:
        rows = await self.db.fetchall(
            "SELECT id, at, actor, action, target, address, details FROM admin_audit"
            " ORDER BY id DESC LIMIT ? OFFSET ?",
            (limit, offset),
        )
        return [
            AuditEntry(
                int(r["id"]),
                int(r["at"]),
                r["actor"],
                r["action"],
                r["target"],
                r["address"],
                json.loads(r["details"]),
            )
            for r in rows
        ]

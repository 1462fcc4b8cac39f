"""The ``api_keys`` table (migration ``230_api_keys.sql``): the private port's credentials.

A key is stored as its id, a name, the SHA-256 hash of its secret and its scopes; the
secret itself is never written anywhere. Keys are never deleted: revoking sets
``revoked_at``, so the list still shows who had access and until when.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from xbtcpay.core.persistence import Engine, UnitOfWork

_COLUMNS = "id, name, secret_hash, scopes, created_at, expires_at, revoked_at"


@dataclass(frozen=True)
class ApiKey:
    """One stored key: what it may call (``scopes``) and until when."""

    id: str
    name: str
    secret_hash: str
    scopes: frozenset[str]
    created_at: int
    expires_at: int | None
    revoked_at: int | None

    def usable_at(self, now: float) -> bool:
        """Neither revoked nor expired at ``now``."""
        if self.revoked_at is not None and self.revoked_at <= now:
            return False
        return self.expires_at is None or now < self.expires_at


def _row_to_key(row: Any) -> ApiKey:
    return ApiKey(
        id=row["id"],
        name=row["name"],
        secret_hash=row["secret_hash"],
        scopes=frozenset(s for s in str(row["scopes"]).split(",") if s),
        created_at=int(row["created_at"]),
        expires_at=None if row["expires_at"] is None else int(row["expires_at"]),
        revoked_at=None if row["revoked_at"] is None else int(row["revoked_at"]),
    )


class ApiKeyStore:
    """Create, find, list and revoke API keys."""

    def __init__(self, db: Engine) -> None:
        self.db = db

    async def create(self, key: ApiKey) -> None:
        async def work(uow: UnitOfWork) -> None:
            await uow.execute(
                f"INSERT INTO api_keys ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    key.id,
                    key.name,
                    key.secret_hash,
                    ",".join(sorted(key.scopes)),
                    key.created_at,
                    key.expires_at,
                    key.revoked_at,
                ),
            )

        await self.db.transact(work)

    async def get(self, key_id: str) -> ApiKey | None:
        """The key with this id (a point read: every keyed request makes one)."""
        row = await self.db.point(f"SELECT {_COLUMNS} FROM api_keys WHERE id = ?", (key_id,))
        return None if row is None else _row_to_key(row)

    async def list(self) -> list[ApiKey]:
        """Every key, newest first (revoked and expired ones included)."""
        rows = await self.db.fetchall(
            f"SELECT {_COLUMNS} FROM api_keys ORDER BY created_at DESC, id"
        )
        return [_row_to_key(r) for r in rows]

    async def revoke(self, key_id: str, at: int) -> bool:
        """Revoke the key from ``at`` on; False when there is no such key or it was revoked."""

        async def work(uow: UnitOfWork) -> int:
            return await uow.execute(
                "UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
                (at, key_id),
            )

        return await self.db.transact(work) > 0

"""API keys for the tests: minted and stored on a running daemon's own database."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from tests.harness import DaemonHandle
from xbtcpay.storage.api_keys import ApiKey, ApiKeyStore
from xbtcpay.web.key_auth import mint_key


async def new_key(
    d: DaemonHandle,
    scopes: Iterable[str],
    *,
    expires_at: int | None = None,
    name: str = "test",
) -> tuple[str, str]:
    """(id, key) of a new key with ``scopes``, stored as ``xbtcpay admin create-key`` does."""
    key_id, key, hashed = mint_key()
    now = int(d.processor.now())
    await ApiKeyStore(d.runtime.db).create(
        ApiKey(key_id, name, hashed, frozenset(scopes), now, expires_at, None)
    )
    return key_id, key


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def api_call(d: DaemonHandle, key: str | None, method: str, params: Any) -> tuple[int, Any]:
    """POST /api/v0/rpc/<method> with ``key``: (HTTP status, body)."""
    headers = bearer(key) if key is not None else {}
    async with d.session.post(
        f"{d.rpc_url}/api/v0/rpc/{method}", json=params, headers=headers
    ) as resp:
        return resp.status, await resp.json()


async def rpc_call(d: DaemonHandle, key: str | None, body: Any) -> tuple[int, Any]:
    """POST / (JSON-RPC 2.0) with ``key``: (HTTP status, body or None)."""
    headers = bearer(key) if key is not None else {}
    async with d.session.post(d.rpc_url + "/", json=body, headers=headers) as resp:
        text = await resp.text()
        return resp.status, (await resp.json() if text else None)

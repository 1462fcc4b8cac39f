"""``xbtcpay admin create-key|list-keys|revoke-key`` against a running daemon's database."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.admin.keys import api_call
from tests.harness import REPO, running_daemon
from xbtcpay.app.admin import expiry_of
from xbtcpay.storage.api_keys import ApiKeyStore
from xbtcpay.web.key_auth import secret_hash, split_key

NOW = 1_800_000_000


def _cli(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "xbtcpay", "-c", str(config), "admin", *args],
        check=False,
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
    )


async def test_create_use_list_and_revoke_a_key(tmp_path: Path) -> None:
    async with running_daemon(tmp_path, {"rpc": {"auth": "keys"}}) as d:
        config = tmp_path / "config.yaml"
        made = _cli(
            config,
            "create-key",
            "--scopes",
            "payments:read",
            "--name",
            "shop-1",
            "--expires",
            "30d",
        )
        assert made.returncode == 0, made.stderr
        key = made.stdout.strip()
        assert made.stdout.count("\n") == 1 and key.startswith("xbk_")
        assert "shown only this once" in made.stderr and key not in made.stderr
        parts = split_key(key)
        assert parts is not None
        key_id, secret = parts
        stored = await ApiKeyStore(d.runtime.db).get(key_id)
        assert stored is not None and stored.secret_hash == secret_hash(secret)
        assert stored.scopes == {"payments:read"} and stored.name == "shop-1"
        assert stored.expires_at is not None and stored.expires_at - stored.created_at == 30 * 86400

        assert (await api_call(d, key, "list_payments", {}))[0] == 200
        assert (await api_call(d, key, "start_payment", {"amount": "1"}))[0] == 403

        listed = _cli(config, "list-keys")
        assert listed.returncode == 0
        assert key_id in listed.stdout and "active" in listed.stdout and "shop-1" in listed.stdout
        assert secret not in listed.stdout and stored.secret_hash not in listed.stdout

        revoked = _cli(config, "revoke-key", key_id)
        assert revoked.returncode == 0 and f"API key {key_id} revoked" in revoked.stdout
        assert (await api_call(d, key, "list_payments", {}))[0] == 401
        assert "revoked" in _cli(config, "list-keys").stdout
        again = _cli(config, "revoke-key", key_id)
        assert again.returncode == 1 and "no active API key" in again.stderr
        assert _cli(config, "revoke-key", "0000000000000000").returncode == 1


async def test_bad_scopes_and_expiries_are_refused_and_store_nothing(tmp_path: Path) -> None:
    async with running_daemon(tmp_path) as d:
        config = tmp_path / "config.yaml"
        for args in (
            ("--scopes", "payments:reed"),
            ("--scopes", ""),
            ("--scopes", "payments:read", "--expires", "2001-01-01"),
            ("--scopes", "payments:read", "--expires", "soon"),
            ("--scopes", "payments:read", "--expires", "0d"),
        ):
            refused = _cli(config, "create-key", *args)
            assert refused.returncode == 1 and refused.stderr.startswith("refused: "), args
            assert refused.stdout == ""
        assert (
            "unknown scope payments:reed"
            in _cli(config, "create-key", "--scopes", "payments:reed").stderr
        )
        assert await ApiKeyStore(d.runtime.db).list() == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("never", None),
        ("90m", NOW + 90 * 60),
        ("12h", NOW + 12 * 3600),
        ("30d", NOW + 30 * 86400),
        ("2w", NOW + 14 * 86400),
        ("2027-12-31", 1830211200),
        ("2027-12-31T12:00", 1830254400),
        ("2027-12-31T12:00+01:00", 1830250800),
    ],
)
def test_expiry_of(text: str, expected: int | None) -> None:
    assert expiry_of(text, NOW) == expected

"""Secrets stay out of error messages; database files are private to the service user."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.harness import REPO, base_config, running_daemon, write_config
from xbtcpay.app.config import load_config
from xbtcpay.core.errors import ConfigError

SECRET = "pb-secret-Zq8Rw3LmN5vT1xK7yH2cJ9"


@pytest.mark.parametrize(
    "broken",
    [
        f"postback:\n  secret: {SECRET}\n   events: [paid]\n",
        f'postback:\n  secret: "{SECRET}\n',
        f"postback: {{secret: {SECRET}\n",
        f"postback:\n  secret: {SECRET}\t: x\n",
    ],
)
def test_a_yaml_error_near_the_secret_shows_line_and_column_only(
    tmp_path: Path, broken: str
) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(broken)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    (problem,) = info.value.problems
    assert "not valid YAML at line " in problem and ", column " in problem
    assert SECRET[:6] not in problem
    result = subprocess.run(
        [sys.executable, "-m", "xbtcpay", "-c", str(path), "check-config"],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=False,
    )
    assert result.returncode == 2 and SECRET[:6] not in result.stdout + result.stderr


async def test_database_files_are_created_0600_in_a_0700_directory(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        var = tmp_path / "var"
        overrides = {"database": f"sqlite:///{var}/xbtcpay.db"}
        async with running_daemon(tmp_path, overrides) as d:
            await d.start_payment("1")
            files = sorted(var.iterdir())
            assert {f.name for f in files} >= {"xbtcpay.db", "xbtcpay.db-wal", "xbtcpay.db-shm"}
            for f in files:
                assert stat.S_IMODE(f.stat().st_mode) == 0o600, f
            assert stat.S_IMODE(var.stat().st_mode) == 0o700
    finally:
        os.umask(old)


@pytest.mark.sqlite_only("the mode of the SQLite database file")
async def test_an_existing_database_is_made_private_at_start(tmp_path: Path) -> None:
    raw = base_config(tmp_path)
    write_config(tmp_path, raw)
    db = tmp_path / "xbtcpay.db"
    async with running_daemon(tmp_path):
        pass
    db.chmod(0o644)
    async with running_daemon(tmp_path):
        assert stat.S_IMODE(db.stat().st_mode) == 0o600

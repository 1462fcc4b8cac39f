"""The engine a test run uses: SQLite files (default) or a throwaway PostgreSQL server.

``XBTCPAY_TEST_DATABASE=postgresql pytest`` runs the suite against one PostgreSQL server per
session (started by the ``database_server`` fixture in ``tests/conftest.py``); every test
directory given to ``base_config`` gets a fresh database, dropped when the test ends.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

from xbtcpay.storage.pg_server import SUPERUSER

PORT_ENV = "XBTCPAY_TEST_PG_PORT"
_CREATED: list[str] = []


def engine() -> str:
    """``sqlite`` or ``postgresql``: the engine this test run uses."""
    name = os.environ.get("XBTCPAY_TEST_DATABASE", "sqlite").lower()
    if name not in ("sqlite", "postgresql"):
        raise RuntimeError(f"XBTCPAY_TEST_DATABASE must be sqlite or postgresql, not {name!r}")
    return name


def on_postgresql() -> bool:
    return engine() == "postgresql"


def _psql(sql: str) -> None:
    subprocess.run(["psql", "-h", "127.0.0.1", "-p", os.environ[PORT_ENV], "-U", SUPERUSER,
                    "-d", "postgres", "-v", "ON_ERROR_STOP=1", "-qAt", "-c", sql],
                   check=True, capture_output=True, timeout=60)


def database_url(directory: Path, filename: str = "xbtcpay.db") -> str:
    """The database of the installation living in ``directory``."""
    if not on_postgresql():
        return f"sqlite:///{directory}/{filename}"
    key = f"{Path(directory).resolve()}/{filename}"
    name = "t_" + hashlib.sha256(key.encode()).hexdigest()[:24]
    if name not in _CREATED:
        _psql(f'CREATE DATABASE "{name}"')
        _CREATED.append(name)
    return f"postgresql://{SUPERUSER}@127.0.0.1:{os.environ[PORT_ENV]}/{name}"


def drop_databases() -> None:
    """Drop the databases created since the last call (end of a test)."""
    while _CREATED:
        _psql(f'DROP DATABASE IF EXISTS "{_CREATED.pop()}" WITH (FORCE)')

"""The database's files are the service user's alone: 0600 files in a 0700 directory.

SQLite creates ``-wal`` and ``-shm`` with the mode of the database file, so creating that
file 0600 before SQLite opens it covers all three, whatever the umask.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import structlog

log = structlog.get_logger("xbtcpay.storage")
SIDE_FILES = ("-wal", "-shm", "-journal")


def prepare_private_file(path: Path) -> None:
    """Create ``path`` (and its missing directories) private; tighten an existing one."""
    if not path.parent.exists():
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        path.parent.chmod(0o700)  # mkdir's mode is filtered by the umask
    fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
    os.close(fd)
    for name in (path, *(path.with_name(path.name + s) for s in SIDE_FILES)):
        _tighten(name)


def _tighten(path: Path) -> None:
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        return
    if mode & 0o077:
        path.chmod(mode & 0o700)
        log.warning("storage.permissions_tightened", path=str(path), was=oct(mode))

"""A throwaway PostgreSQL server on a fresh data directory, for tests and benchmarks.

Debian's server binaries (``/usr/lib/postgresql/<major>/bin``) refuse to run as root, so as
root the cluster is created and started as the ``postgres`` user (``runuser``). The server
listens on 127.0.0.1 and a socket in its own directory; ``stop()`` removes everything.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from types import TracebackType
from typing import Self

SUPERUSER = "xbtcpay"


def server_bindir() -> Path:
    """The newest installed PostgreSQL server's bin directory."""
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parent.parent.name)
    )
    if not found:
        raise RuntimeError("PostgreSQL server not installed (Debian package postgresql)")
    return Path(found[-1]).parent


class PgServer:
    """``with PgServer(port) as pg: pg.url("dbname")`` - or start()/stop()."""

    def __init__(self, port: int, *, fsync: bool = True, password: str | None = None) -> None:
        self.port = port
        self.fsync = fsync
        self.password = password  # None: trust; else TCP logins need it (scram-sha-256)
        self.bindir = server_bindir()
        self.root = Path(tempfile.mkdtemp(prefix="xbtcpay-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"

    def _as_owner(self, *argv: str) -> list[str]:
        if os.geteuid() == 0:
            return ["runuser", "-u", "postgres", "--", *argv]
        return list(argv)

    def _run(self, *argv: str) -> None:
        # PostgreSQL's own binaries from bindir, an argument list and no shell
        subprocess.run(  # noqa: S603
            self._as_owner(*argv),
            check=True,
            capture_output=True,
            timeout=120,
        )

    def start(self) -> Self:
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
        self.root.chmod(0o755)
        if not self.data.exists():
            auth = ["-A", "trust"]
            if self.password is not None:
                pwfile = self.root / "pwfile"
                pwfile.write_text(self.password + "\n")
                if os.geteuid() == 0:
                    shutil.chown(pwfile, "postgres", "postgres")
                auth = ["--auth-local=trust", "--auth-host=scram-sha-256", f"--pwfile={pwfile}"]
            self._run(
                str(self.bindir / "initdb"),
                "-D",
                str(self.data),
                *auth,
                "-U",
                SUPERUSER,
                "--no-sync",
                "-E",
                "UTF8",
                "--locale=C",
            )
        return self.resume()

    def resume(self) -> Self:
        """Start the server (again) on the same data directory."""
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1"
            f" -c max_connections=300 -c fsync={'on' if self.fsync else 'off'}"
        )
        self._run(
            str(self.bindir / "pg_ctl"),
            "-D",
            str(self.data),
            "-o",
            options,
            "-l",
            str(self.log),
            "-w",
            "-t",
            "60",
            "start",
        )
        return self

    def halt(self, mode: str = "fast") -> None:
        """Stop the server, keeping its data (``immediate`` is a crash)."""
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")

    def stop(self) -> None:
        """Stop the server (if running) and delete its directory."""
        if (self.data / "postmaster.pid").exists():
            with contextlib.suppress(subprocess.CalledProcessError):
                self.halt("immediate")
        shutil.rmtree(self.root, ignore_errors=True)

    def url(self, dbname: str = "postgres") -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{dbname}"

    def psql(self, sql: str, dbname: str = "postgres") -> str:
        """Run SQL through psql as the superuser; return its output."""
        psql = shutil.which("psql") or str(self.bindir / "psql")
        argv = [
            psql,
            "-h",
            str(self.root),
            "-p",
            str(self.port),
            "-U",
            SUPERUSER,
            "-d",
            dbname,
            "-v",
            "ON_ERROR_STOP=1",
            "-qAt",
            "-c",
            sql,
        ]
        done = subprocess.run(  # noqa: S603 - PostgreSQL's psql, an argument list, no shell
            argv,
            check=True,
            capture_output=True,
            text=True,
            timeout=60,
        )
        return done.stdout

    def create_database(self, name: str) -> str:
        self.psql(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def drop_database(self, name: str) -> None:
        self.psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

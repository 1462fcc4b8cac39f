"""PostgreSQL faults: the server stopped and restarted under a running daemon, and a wrong
URL or password at start-up."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.harness import REPO, base_config, free_port, running_daemon, wait_until, write_config
from xbtcpay.core.models import PaymentEvent
from xbtcpay.core.state import Event
from xbtcpay.storage.pg_server import PgServer


async def test_postgresql_stopped_and_restarted_mid_run(tmp_path: Path) -> None:
    with PgServer(free_port()) as server:
        url = server.create_database("faults")
        async with running_daemon(tmp_path, {"database": url, "cluster": {"lease_ttl": 1.5}}) as d:
            kept = await d.start_payment("1")
            server.halt("fast")
            for i in range(5):
                reply = await d.call("start_payment", {"amount": str(i + 2)})
                assert "error" in reply, reply
                assert reply["error"]["code"] == -32011, reply
            reply = await d.call("get_payment", {"id": kept["id"]})
            assert reply["error"]["code"] == -32011
            async with d.session.get(d.public_url + "/healthz") as resp:
                assert resp.status == 503
            server.resume()

            async def accepted() -> bool:
                return "result" in await d.call("start_payment", {"amount": "9"})

            await wait_until(accepted, timeout=20)  # the pool reconnects by itself
            paid = await d.processor.apply(kept["id"], PaymentEvent(Event.PAID))
            assert paid.changed
            amounts = sorted(p.amount for p in await d.runtime.payments.search())
            assert [str(a) for a in amounts] == ["1", "9"]  # nothing half-written
            await wait_until(lambda: d.runtime.leadership.is_leader, timeout=10)


def _run_with(
    tmp_path: Path, overrides: dict[str, object], env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    config = write_config(tmp_path, base_config(tmp_path, overrides))
    return subprocess.run(
        [sys.executable, "-m", "xbtcpay", "-c", str(config), "run"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
        env={**(env or {}), "PATH": "/usr/bin:/bin"},
        check=False,
    )


def test_wrong_url_or_password_stops_start_up_with_one_line(tmp_path: Path) -> None:
    with PgServer(free_port(), password="right-password") as server:
        server.create_database("shop")
        nobody = _run_with(
            tmp_path, {"database": f"postgresql://xbtcpay@127.0.0.1:{free_port()}/shop"}
        )
        assert nobody.returncode == 2
        [line] = nobody.stderr.strip().splitlines()
        assert line.startswith("database error: cannot connect to PostgreSQL:"), line
        wrong = _run_with(
            tmp_path,
            {"database": server.url("shop"), "database_password": {"env": "DB_PASSWORD"}},
            env={"DB_PASSWORD": "wrong-password"},
        )
        assert wrong.returncode == 2
        assert wrong.stderr.strip() == "database error: PostgreSQL refused the user or password"
        assert "wrong-password" not in wrong.stdout + wrong.stderr
        missing = _run_with(
            tmp_path,
            {"database": server.url("nope"), "database_password": {"env": "DB_PASSWORD"}},
            env={"DB_PASSWORD": "right-password"},
        )
        assert missing.returncode == 2
        assert missing.stderr.strip() == "database error: PostgreSQL has no such database"

"""The xbtcpay command on a real database: payments and postbacks inspection, redeliver."""

from __future__ import annotations

import subprocess
import sys
from decimal import Decimal
from pathlib import Path

from tests.harness import REPO, PostbackReceiver, running_daemon, wait_until
from xbtcpay.core.models import PaymentEvent
from xbtcpay.core.state import Event


def _cli(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "xbtcpay", "-c", str(config), *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
    )


async def test_payments_and_postbacks_commands(tmp_path: Path, receiver: PostbackReceiver) -> None:
    async with running_daemon(tmp_path) as d:
        pid = (await d.start_payment("4.2", postback_url=receiver.url))["id"]
        await d.processor.apply(
            pid,
            PaymentEvent(
                Event.PAID, amount_received=Decimal("4.2"), tx_hash="0x" + "11" * 32, tx_block=3
            ),
        )
        await receiver.wait_for(1)
        await wait_until(lambda: d.runtime.postbacks.search(status="delivered"))
        config = tmp_path / "config.yaml"
        listed = _cli(config, "payments", "list")
        assert listed.returncode == 0 and pid in listed.stdout and "paid" in listed.stdout
        shown = _cli(config, "payments", "show", pid)
        assert '"event": "paid"' in shown.stdout and '"status": "delivered"' in shown.stdout
        pbs = _cli(config, "postbacks", "list")
        assert "delivered" in pbs.stdout and receiver.url in pbs.stdout
        postback_id = pbs.stdout.splitlines()[1].split()[0]
        again = _cli(config, "postbacks", "redeliver", postback_id)
        assert again.returncode == 0
        await receiver.wait_for(2)
        assert _cli(config, "postbacks", "redeliver", "424242").returncode == 1
        assert _cli(config, "payments", "show", "nope-nope-nope").returncode == 1
        migrated = _cli(config, "migrate")
        assert "nothing (up to date)" in migrated.stdout

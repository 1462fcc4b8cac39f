"""``xbtcpay vouchers create|list|disable`` against the daemon's own database."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.commerce.media import Clock, media_daemon, ok, refused
from tests.harness import REPO


def _cli(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "xbtcpay", "-c", str(config), *args],
        check=False,
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
    )


async def test_create_list_disable(tmp_path: Path) -> None:
    async with media_daemon(tmp_path, Clock()) as d:
        config = tmp_path / "config.yaml"
        made = _cli(
            config,
            "vouchers",
            "create",
            "--code",
            "CLI-CODE-1",
            "--product",
            "rent42",
            "--max-uses",
            "2",
        )
        assert made.returncode == 0, made.stderr
        voucher = json.loads(made.stdout)
        assert voucher["max_uses"] == 2 and "CLI-CODE-1" not in made.stdout
        assert (
            _cli(
                config, "vouchers", "create", "--code", "CLI-CODE-2", "--balance", "EUR:5.00"
            ).returncode
            == 0
        )
        assert (
            _cli(
                config, "vouchers", "create", "--reference", "ext-1", "--discount", "movie42:50%"
            ).returncode
            == 0
        )
        bad = _cli(config, "vouchers", "create", "--code", "CLI-CODE-3", "--product", "nope")
        assert bad.returncode == 1 and "unknown product" in bad.stderr
        dup = _cli(config, "vouchers", "create", "--code", "cli-code-1", "--product", "rent42")
        assert dup.returncode == 1 and "already exists" in dup.stderr
        listed = _cli(config, "vouchers", "list")
        assert listed.returncode == 0 and len(listed.stdout.splitlines()) == 4
        assert '"product": "rent42"' in listed.stdout and "CLI-CODE" not in listed.stdout
        await ok(d, "payment.redeemvoucher", {"customer": "c", "vouchercode": "CLI-CODE-1"})
        assert _cli(config, "vouchers", "disable", str(voucher["id"])).returncode == 0
        err = await refused(
            d, "payment.redeemvoucher", {"customer": "c2", "vouchercode": "CLI-CODE-1"}
        )
        assert "disabled" in err["message"]
        assert _cli(config, "vouchers", "disable", "4242").returncode == 1

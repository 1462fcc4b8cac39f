"""A third-party plugin installed from its own distribution works with no change to core;
a broken enabled plugin stops start-up with a clear message."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.harness import (
    REPO,
    DaemonProcess,
    PostbackReceiver,
    base_config,
    wait_until,
    write_config,
)

EXAMPLE = Path(__file__).parent / "example_plugin"


@pytest.fixture(scope="module")
def site_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """pip-install the example distribution into its own directory (not the venv).

    It is built from a copy of its source: setuptools writes ``build/`` and ``*.egg-info``
    into the source tree, and two test workers building the one tree at once could leave
    one of them an install without its module."""
    target = tmp_path_factory.mktemp("site")
    build = tmp_path_factory.mktemp("build")
    source = build / "example_plugin"
    shutil.copytree(EXAMPLE, source, ignore=shutil.ignore_patterns("build", "*.egg-info"))
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            str(target),
            str(source),
        ],
        check=True,
        cwd=build,
        capture_output=True,
    )
    assert list(target.glob("xbtcpay_example-1.0.0.dist-info"))
    return target


def _config(tmp_path: Path, plugins: dict[str, Any]) -> Path:
    raw = base_config(
        tmp_path,
        {
            "plugins": plugins,
            "products": {"voucher10": {"type": "one_time", "prices": {"EUR": "10.00"}}},
        },
    )
    raw["chain"]["rpc_urls"] = ["http://127.0.0.1:1"]
    return write_config(tmp_path, raw)


async def test_third_party_plugin_works_end_to_end(tmp_path: Path, site_dir: Path) -> None:
    daemon = DaemonProcess(
        _config(tmp_path, {"example": {"code": "s3cret"}}), env={"PYTHONPATH": str(site_dir)}
    )
    await daemon.start()
    try:
        async with PostbackReceiver() as shop, aiohttp.ClientSession() as session:
            body = {
                "jsonrpc": "2.0",
                "id": 1,
                "method": "example.createVoucherPayment",
                "params": {"product": "voucher10", "postback_url": shop.url},
            }
            async with session.post(daemon.rpc_url + "/", json=body) as resp:
                result = (await resp.json())["result"]
            assert result["amount"] == "10.00" and result["currency"] == "EUR"
            pid = result["id"]
            redeem = daemon.public_url + "/example/redeem"
            async with session.post(redeem, data={"payment_id": pid, "code": "wrong"}) as resp:
                assert resp.status == 400
            async with session.post(redeem, data={"payment_id": pid, "code": "s3cret"}) as resp:
                assert (await resp.json()) == {"changed": True, "duplicate": False}
            async with session.post(redeem, data={"payment_id": pid, "code": "s3cret"}) as resp:
                assert (await resp.json())["changed"] is False
            [got] = await shop.wait_for(1)
            assert got["json"]["id"] == pid and got["json"]["method"] == "example"

            async def paid() -> bool:
                async with session.get(f"{daemon.public_url}/{pid}/status.json") as resp:
                    doc = await resp.json()
                return doc["status"] == "paid" and doc["paid_at"] is not None

            await wait_until(paid)
    finally:
        daemon.terminate()


@pytest.mark.parametrize(
    ("plugin", "message"),
    [
        (
            "not_installed_anywhere",
            "plugin 'not_installed_anywhere' is enabled in config.yaml but not installed",
        ),
        (
            "example_broken",
            "plugin 'example_broken' failed to start: cannot reach the voucher service",
        ),
        ("example_old", "plugin 'example_old' speaks plugin API 0; this xbtcpay speaks 1"),
    ],
)
def test_broken_enabled_plugin_stops_start_up(
    tmp_path: Path, site_dir: Path, plugin: str, message: str
) -> None:
    path = _config(tmp_path, {plugin: {"code": "x"}})
    result = subprocess.run(
        [sys.executable, "-m", "xbtcpay", "-c", str(path), "run"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
        env={"PYTHONPATH": str(site_dir), "PATH": ""},
    )
    assert result.returncode == 3
    assert message in result.stderr

"""The contract every bundled plugin honours, run against each driver in tests/plugins/drivers/.

A driver knows how to pay through its provider (signed webhook, verified receipt, JWT notice);
the suite checks what the core promises for every payment method: paid state in status.json,
one signed postback, replays change nothing, forgeries are refused, and one method answers the
same over JSON-RPC, /api/v0/rpc/<method> and the WebSocket.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.harness import POSTBACK_SECRET, PostbackReceiver, running_daemon
from tests.plugins import drivers as drivers_pkg
from xbtcpay.core.errors import PluginError
from xbtcpay.core.postback import verify


def _driver_names() -> list[str]:
    names = []
    for info in pkgutil.iter_modules([str(Path(drivers_pkg.__file__).parent)]):
        module = importlib.import_module(f"tests.plugins.drivers.{info.name}")
        if hasattr(module, "DRIVER"):
            names.append(info.name)
    return sorted(names)


DRIVER_NAMES = _driver_names()


@pytest.fixture(params=DRIVER_NAMES)
async def driver(request: pytest.FixtureRequest) -> AsyncIterator[Any]:
    module = importlib.import_module(f"tests.plugins.drivers.{request.param}")
    instance = module.DRIVER()
    await instance.start()
    try:
        yield instance
    finally:
        await instance.stop()


def _overrides(driver: Any) -> dict[str, Any]:
    return {"plugins": {driver.name: driver.plugin_settings()}, "products": driver.products()}


async def _event_count(d: Any) -> int:
    row = await d.runtime.db.fetchone("SELECT COUNT(*) FROM payment_events")
    return int(row[0])


def test_every_bundled_plugin_has_a_driver() -> None:
    bundled = {
        p.name.removeprefix("xbtcpay_")
        for p in (Path(__file__).resolve().parents[2] / "plugins").iterdir()
        if (p / "pyproject.toml").exists()
    }
    assert bundled <= set(DRIVER_NAMES), bundled - set(DRIVER_NAMES)


async def test_paid_payment_shows_in_status_and_posts_back_once(
    driver: Any, tmp_path: Path, receiver: PostbackReceiver
) -> None:
    async with running_daemon(tmp_path, _overrides(driver)) as d:
        pid = await driver.pay(d, receiver.url)
        [got] = await receiver.wait_for(1)
        assert got["json"]["id"] == pid and got["json"]["event"] == "paid"
        assert got["json"]["method"] == driver.name
        assert verify(POSTBACK_SECRET, got["body"], got["headers"]["X-Xbtcpay-Signature"])
        status, doc = await d.status(pid)
        assert status == 200 and doc["status"] == "paid" and doc["paid_at"] is not None
        await driver.replay(d)
        assert len(receiver.received) == 1


async def test_replay_changes_nothing(
    driver: Any, tmp_path: Path, receiver: PostbackReceiver
) -> None:
    async with running_daemon(tmp_path, _overrides(driver)) as d:
        pid = await driver.pay(d, receiver.url)
        await receiver.wait_for(1)
        before = (await _event_count(d), await d.status(pid))
        await driver.replay(d)
        await driver.replay(d)
        assert (await _event_count(d), await d.status(pid)) == before
        rows = await d.runtime.postbacks.search()
        assert len(rows) == 1


async def test_forgery_is_refused_and_changes_nothing(
    driver: Any, tmp_path: Path, receiver: PostbackReceiver
) -> None:
    """The forgery names a payment that exists, so only the signature check can refuse it."""
    async with running_daemon(tmp_path, _overrides(driver)) as d:
        pid = await driver.target(d, receiver.url)
        before = (
            await _event_count(d),
            await d.status(pid),
            await d.runtime.payments.count_by_status(),
            len(await d.runtime.postbacks.search()),
        )
        assert await driver.forge(d) in (400, 401)  # 401: a push token that is not Google's
        after = (
            await _event_count(d),
            await d.status(pid),
            await d.runtime.payments.count_by_status(),
            len(await d.runtime.postbacks.search()),
        )
        assert after == before


async def test_same_answer_over_three_transports(driver: Any, tmp_path: Path) -> None:
    method, params = driver.deterministic_call()
    async with running_daemon(tmp_path, _overrides(driver)) as d:
        rpc = await d.call(method, params)
        http = await d.http_api(method, params)
        ws = await d.ws_call(method.replace(".", ":", 1), params, event_id="evt-42")
        assert "result" in rpc, rpc
        assert http["error"]["status"] is False and ws["error"]["status"] is False
        assert http["data"] == rpc["result"] == ws["data"]
        assert ws["event"]["id"] == "evt-42" and ws["endpoint"] == method.replace(".", ":", 1)
        bad = {"__unexpected__": True}
        rpc_bad, http_bad = await d.call(method, bad), await d.http_api(method, bad)
        ws_bad = await d.ws_call(method.replace(".", ":", 1), bad)
        if "error" in rpc_bad:
            assert http_bad["error"]["code"] == rpc_bad["error"]["code"] == ws_bad["error"]["code"]
            assert http_bad["error"]["message"] == rpc_bad["error"]["message"]


async def test_a_misspelled_settings_key_stops_start_up(driver: Any, tmp_path: Path) -> None:
    """Each plugin refuses a typo in its own section, named by its full dotted path."""
    section = {**driver.plugin_settings(), "timeuot": 5}
    overrides = {"plugins": {driver.name: section}, "products": driver.products()}
    with pytest.raises(PluginError) as info:
        async with running_daemon(tmp_path, overrides):
            pass
    assert str(info.value) == f"plugins.{driver.name}.timeuot: unknown key (typo?)"

"""Acceptance 2: funds.summary and /metrics; a sweep reorged away is reported, re-sent, and
never counted twice."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from pathlib import Path

from tests.chain.watching import Watch
from tests.fixtures.chain import DevChain
from tests.harness import REPO, wait_until
from tests.sweep.kit import (
    TREASURY,
    cli,
    config_path,
    load,
    mining,
    mnemonic_file,
    paid_payments,
    sweep_server,
)


async def metric(w: Watch, line_start: str) -> float:
    async with w.d.session.get(w.d.rpc_url + "/metrics") as resp:
        text = await resp.text()
    values = [ln.split()[-1] for ln in text.splitlines() if ln.startswith(line_start)]
    assert len(values) == 1, (line_start, text[-2000:])
    return float(values[0])


async def signed_plan(w: Watch, tmp_path: Path) -> Path:
    cfg = config_path(w)
    assert (await cli(cfg, "sweep", "plan", "-o", str(tmp_path / "plan.json"))).code == 0
    signed = tmp_path / "offline" / "signed.json"
    result = await cli(
        cfg,
        "sweep",
        "sign",
        str(tmp_path / "plan.json"),
        "--mnemonic-file",
        str(mnemonic_file(tmp_path / "offline")),
        "-o",
        str(signed),
    )
    assert result.code == 0, result
    return signed


async def test_funds_summary_and_metrics_before_and_after_a_sweep(
    tmp_path: Path, chain: DevChain
) -> None:
    async with sweep_server(tmp_path, chain) as w:
        payments = await paid_payments(w, 3)
        summary = (await w.d.call("funds.summary"))["result"]
        funds = summary["assets"]["0xbtc"]
        assert (funds["received"], funds["swept"], funds["unswept"]) == ("4.5", "0", "4.5")
        assert sorted(a["address"] for a in funds["addresses"]) == sorted(
            p["address"] for p in payments
        )
        assert all(a["unswept"] == "1.5" for a in funds["addresses"])
        assert summary["gas_wallet"]["addresses"] > 1000
        assert await metric(w, 'xbtcpay_funds_unswept{asset="0xbtc"}') == 4.5
        assert await metric(w, 'xbtcpay_funds_unswept_addresses{asset="0xbtc"}') == 3
        assert (
            await metric(w, "xbtcpay_sweep_gas_runway_addresses")
            == summary["gas_wallet"]["addresses"]
        )

        signed = await signed_plan(w, tmp_path)
        async with mining(chain):
            assert (await cli(config_path(w), "sweep", "send", str(signed))).code == 0
        after = (await w.d.call("funds.summary", {"asset": "0xbtc"}))["result"]
        funds = after["assets"]["0xbtc"]
        assert (funds["received"], funds["swept"], funds["unswept"]) == ("4.5", "4.5", "0")
        assert await metric(w, 'xbtcpay_funds_swept{asset="0xbtc"}') == 4.5
        assert await metric(w, 'xbtcpay_funds_unswept{asset="0xbtc"}') == 0
        assert await metric(w, "xbtcpay_sweep_gas_wallet_eth") < 10_000

        bad = await w.d.call("funds.summary", {"asset": "doge"})
        assert bad["error"]["code"] == -32602 and "unknown asset" in bad["error"]["message"]
        bad = await w.d.call("funds.summary", {"assets": "0xbtc"})
        assert bad["error"]["code"] == -32602


async def test_a_sweep_reorged_away_is_reported_resent_and_never_counted_twice(
    tmp_path: Path, chain: DevChain
) -> None:
    async with sweep_server(tmp_path, chain) as w:
        cfg = config_path(w)
        await paid_payments(w, 3)
        signed = await signed_plan(w, tmp_path)
        async with mining(chain):
            sent = await cli(cfg, "sweep", "send", str(signed))
        assert sent.code == 0, sent
        row = await w.d.runtime.db.fetchone(
            "SELECT block_number FROM sweep_events WHERE status = 'confirmed'"
        )
        assert row is not None
        await chain.reorg(await chain.block_number() - row["block_number"] + 1)
        assert await chain.token_balance(TREASURY) == 0  # the sweep left the chain

        report = await cli(cfg, "funds")
        assert report.code == 0, report
        assert "was reorged away" in report.out
        assert "received 4.5, swept 0, unswept 4.5" in report.out
        funds = json.loads((await cli(cfg, "funds", "--json")).out)
        assert funds["reorged_sweeps"] == []  # reported once, recorded

        async with mining(chain):
            again = await cli(cfg, "sweep", "send", str(signed))
        assert again.code == 0, again
        assert await chain.token_balance(TREASURY) == 450_000_000
        funds = json.loads((await cli(cfg, "funds", "--json")).out)["assets"]["0xbtc"]
        assert (funds["received"], funds["swept"], funds["unswept"]) == ("4.5", "4.5", "0")
        for p in await w.d.runtime.payments.search(status=None, limit=10):
            assert p.status.value == "paid"
        statuses = [
            r["status"]
            for r in await w.d.runtime.db.fetchall("SELECT status FROM sweep_events ORDER BY id")
        ]
        assert statuses == ["sent", "confirmed", "reorged", "sent", "confirmed"]


async def test_a_send_killed_after_broadcast_loses_nothing(tmp_path: Path, chain: DevChain) -> None:
    async with sweep_server(tmp_path, chain) as w:
        cfg = config_path(w)
        await paid_payments(w, 3)
        signed = await signed_plan(w, tmp_path)
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "xbtcpay",
            "-c",
            str(cfg),
            "sweep",
            "send",
            str(signed),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
            cwd=str(REPO),
        )

        async def mined() -> bool:  # automine: mined at once; the 2nd confirmation waits
            row = await w.d.runtime.db.fetchone("SELECT tx_hash FROM sweeps")
            return (
                row is not None
                and await chain.client.call("eth_getTransactionReceipt", [row["tx_hash"]])
                is not None
            )

        await wait_until(mined, timeout=60)
        proc.kill()
        assert await proc.wait() == -signal.SIGKILL
        report = await cli(cfg, "funds", "--json")
        assert report.code == 0, report.err  # a refusal says why, on stderr
        funds = json.loads(report.out)["assets"]["0xbtc"]
        assert (funds["swept"], funds["unswept"], funds["sweeping"]) == ("0", "0", "4.5")

        await chain.mine(1)  # the second confirmation
        report = await cli(cfg, "funds", "--json")
        assert report.code == 0, report.err
        funds = json.loads(report.out)["assets"]["0xbtc"]
        assert (
            funds["received"],
            funds["swept"],
            funds["unswept"],
            funds["sweeping"],
            funds["unexplained"],
        ) == ("4.5", "4.5", "0", "0", "0")
        statuses = [
            r["status"]
            for r in await w.d.runtime.db.fetchall("SELECT status FROM sweep_events ORDER BY id")
        ]
        assert statuses == ["sent", "confirmed"]


async def test_funds_arriving_after_a_sweep_are_swept_again_without_a_signature(
    tmp_path: Path, chain: DevChain
) -> None:
    async with sweep_server(tmp_path, chain) as w:
        cfg = config_path(w)
        payments = await paid_payments(w, 3)
        async with mining(chain):
            assert (await cli(cfg, "sweep", "send", str(await signed_plan(w, tmp_path)))).code == 0
        late = payments[1]
        await chain.pay_tokens(late["address"], 25_000_000)  # an overpayment, after the sweep
        await chain.mine(3)
        await w.synced()
        again = await w.payment(late["id"])
        assert again.status.value == "paid" and again.overpaid
        assert str(again.amount_received) == "1.75000000"

        plan = tmp_path / "plan2.json"
        assert (await cli(cfg, "sweep", "plan", "-o", str(plan))).code == 0
        (entry,) = load(plan)["addresses"]
        assert entry["delegated"] is True and entry["balance"] == "25000000"
        signed = tmp_path / "offline" / "signed2.json"
        result = await cli(
            cfg,
            "sweep",
            "sign",
            str(plan),
            "--mnemonic-file",
            str(mnemonic_file(tmp_path / "offline")),
            "-o",
            str(signed),
        )
        assert result.code == 0 and "0 signatures" in result.err, result
        async with mining(chain):
            sent = await cli(cfg, "sweep", "send", str(signed))
        assert sent.code == 0, sent
        assert await chain.token_balance(TREASURY) == 475_000_000
        funds = json.loads((await cli(cfg, "funds", "--json")).out)["assets"]["0xbtc"]
        assert (funds["received"], funds["swept"], funds["unswept"]) == ("4.75", "4.75", "0")


async def test_a_sweep_reorged_away_while_send_waits_is_broadcast_again(
    tmp_path: Path, chain: DevChain
) -> None:
    async with sweep_server(tmp_path, chain) as w:
        cfg = config_path(w)
        await paid_payments(w, 3)
        signed = await signed_plan(w, tmp_path)
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "xbtcpay",
            "-c",
            str(cfg),
            "sweep",
            "send",
            str(signed),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            cwd=str(REPO),
        )

        async def mined() -> str | None:
            row = await w.d.runtime.db.fetchone("SELECT tx_hash FROM sweeps")
            if row is None:
                return None
            receipt = await chain.client.call("eth_getTransactionReceipt", [row["tx_hash"]])
            return None if receipt is None else str(receipt["blockHash"])

        first = await wait_until(mined, timeout=60)
        await chain.reorg(1)  # the sweep's block is replaced, tx dropped
        again = await wait_until(mined, timeout=30)  # send broadcast it again (automine)
        assert again != first
        await chain.mine(1)  # its second confirmation
        out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
        assert proc.returncode == 0, (out, err)
        assert await chain.token_balance(TREASURY) == 450_000_000
        funds = json.loads((await cli(cfg, "funds", "--json")).out)["assets"]["0xbtc"]
        assert (funds["received"], funds["swept"], funds["unswept"]) == ("4.5", "4.5", "0")

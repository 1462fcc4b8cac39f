"""Watcher acceptance 7: ETH payments, and balance reconciliation of what logs and tx.to miss."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from tests.chain.watching import ETH_ASSET, units, watching
from tests.fixtures.chain import DevChain
from xbtcpay.chain import watcher

ETH = {"assets": ETH_ASSET, "chain": {"reconcile_interval": 1}}
WEI = 10**18


async def test_plain_eth_transfer_is_seen_then_paid(tmp_path: Path, chain: DevChain) -> None:
    async with watching(tmp_path, chain, ETH) as w:
        p = await w.pay_request("0.5", asset="eth")
        tx = await chain.pay_eth(p["address"], WEI // 2)
        seen = await w.until(p["id"], "seen")
        assert seen.tx_hash == tx and seen.amount_received == Decimal("0.5")
        await chain.mine(2)
        paid = await w.until(p["id"], "paid")
        assert paid.tx_hash == tx and not paid.overpaid
        kinds = [d["kind"] for d in await w.deposits(p["id"])]
        assert kinds == ["tx"]  # reconciliation added nothing


async def test_eth_sent_from_a_contract_is_caught_by_reconciliation(
    tmp_path: Path, chain: DevChain
) -> None:
    async with watching(tmp_path, chain, ETH) as w:
        p = await w.pay_request("0.25", asset="eth")
        await chain.forward_eth(p["address"], WEI // 4)  # tx.to is the forwarder
        await w.synced()
        assert (await w.payment(p["id"])).status.value == "new"
        await chain.mine(2)  # confirmed: reconciliation sees it
        paid = await w.until(p["id"], "paid", timeout=10)
        assert paid.amount_received == Decimal("0.25") and not paid.overpaid
        deposits = await w.deposits(p["id"])
        assert [d["kind"] for d in deposits] == ["balance"]
        assert deposits[0]["units"] == str(WEI // 4) and deposits[0]["tx_hash"] is None


async def test_tokens_minted_to_an_address_without_transfer_are_reconciled(
    tmp_path: Path, chain: DevChain
) -> None:
    async with watching(tmp_path, chain, {"chain": {"reconcile_interval": 1}}) as w:
        p = await w.pay_request("1")
        await chain.mine_tokens(p["address"], units("1"))  # Mint event only
        await chain.mine(2)
        paid = await w.until(p["id"], "paid", timeout=10)
        assert paid.amount_received == Decimal(1)
        assert [d["kind"] for d in await w.deposits(p["id"])] == ["balance"]


async def test_transfer_plus_mint_add_up_without_counting_the_transfer_twice(
    tmp_path: Path, chain: DevChain
) -> None:
    async with watching(tmp_path, chain, {"chain": {"reconcile_interval": 1}}) as w:
        p = await w.pay_request("1")
        tx = await chain.pay_tokens(p["address"], units("0.4"))
        await chain.mine_tokens(p["address"], units("0.6"))
        await w.until(p["id"], "seen")
        await chain.mine(2)
        paid = await w.until(p["id"], "paid", timeout=10)
        assert paid.amount_received == Decimal(1) and not paid.overpaid
        deposits = await w.deposits(p["id"])
        assert sorted(d["kind"] for d in deposits) == ["balance", "log"]
        assert sum(int(d["units"]) for d in deposits) == units("1")
        assert [d["tx_hash"] for d in deposits if d["kind"] == "log"] == [tx]
        await chain.mine(3)  # later reconciliations add nothing
        before = len(deposits)
        await w.watcher.reconcile()
        assert len(await w.deposits(p["id"])) == before


async def test_eth_sent_to_a_token_payment_is_not_counted(tmp_path: Path, chain: DevChain) -> None:
    async with watching(tmp_path, chain, ETH) as w:
        p = await w.pay_request("1")  # a 0xBTC payment
        await chain.pay_eth(p["address"], WEI)
        await chain.mine(3)
        await w.synced()
        await w.watcher.reconcile()
        await w.synced()
        assert (await w.payment(p["id"])).status.value == "new"
        assert await w.deposits(p["id"]) == []


async def test_reconciliation_waits_for_the_head_while_far_behind(
    tmp_path: Path, chain: DevChain
) -> None:
    extra = {"chain": {"reorg_window": 8}}
    start = await chain.block_number() + 1
    async with watching(tmp_path, chain, extra, run=False, start=start) as w:
        p = await w.pay_request("1")
        await chain.mine_tokens(p["address"], units("1"))  # only a balance read finds it
        await chain.mine(20)  # far behind: > reorg_window
        await w.watcher.poll()
        assert await w.deposits(p["id"]) == []  # caught up, not reconciled yet
        await w.watcher.poll()  # at the head: reconciled
        assert [d["kind"] for d in await w.deposits(p["id"])] == ["balance"]
        paid = await w.until(p["id"], "paid", timeout=10)
        assert paid.amount_received == Decimal(1)


async def test_reconciliation_reads_open_payments_a_page_at_a_time_and_misses_none(
    tmp_path: Path, chain: DevChain, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(watcher, "RECONCILE_SLICE", 2)  # pages of 2 instead of 5,000
    async with watching(tmp_path, chain, run=False) as w:
        payments = [await w.pay_request("1") for _ in range(5)]
        for p in payments:
            await chain.mine_tokens(p["address"], units("1"))  # only reconciliation sees it
        await chain.mine(3)
        await w.watcher.poll()  # one poll, one reconciliation pass: pages of 2, 2 and 1
        for p in payments:
            paid = await w.payment(p["id"])
            assert paid.status.value == "paid"
            assert [d["kind"] for d in await w.deposits(paid.id)] == ["balance"]

"""Several EVM chains watched by one daemon: three anvils with their own chain ids and block
times, one watcher (leader job) per chain, the same deposit address on every chain.

The test token is deployed first by dev account 0 on every node, so it has the same contract
address everywhere: exactly the situation a transfer on the wrong chain comes from.
"""

from __future__ import annotations

import asyncio
import functools
import secrets
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.chain.multichain import Node, dev_chain, has_status, start_daemon
from tests.chain.node_proxy import NodeProxy
from tests.chain.watching import Clock, units
from tests.fixtures.chain import DevChain
from tests.harness import DaemonHandle, DaemonProcess, base_config, wait_until, write_config
from tests.pg import query
from xbtcpay.chain.anvil import Anvil
from xbtcpay.core.models import Payment
from xbtcpay.storage.pg_server import PgServer

# key -> (chain id, anvil --block-time; None: a block per transaction, mined on demand)
CHAINS: dict[str, tuple[int, float | None]] = {
    "l1": (31337, None),
    "base": (8453, 0.25),
    "arb": (42161, 0.5),
}
ASSET_OF = {"l1": "0xbtc", "base": "xbtc_base", "arb": "xbtc_arb"}


@dataclass
class Chains:
    d: DaemonHandle
    nodes: dict[str, Node]
    proxies: dict[str, NodeProxy]

    async def pay_request(self, chain: str, amount: str) -> dict[str, Any]:
        return await self.d.start_payment(amount, asset=ASSET_OF[chain])

    async def payment(self, payment_id: str) -> Payment:
        payment: Payment = await self.d.processor.get(payment_id)
        return payment

    async def until(self, payment_id: str, status: str, timeout: float = 30.0) -> Payment:
        async def check() -> Payment | None:
            p = await self.payment(payment_id)
            return p if p.status.value == status else None

        try:
            return await wait_until(check, timeout)  # type: ignore[no-any-return]
        except TimeoutError:
            p = await self.payment(payment_id)
            raise AssertionError(f"expected {status}, payment is {p.status.value}: {p}") from None

    async def scanned(self, chain: str, timeout: float = 30.0) -> int:
        """Wait until the chain's watcher has scanned (and settled) up to the node's head of now."""
        target = await self.nodes[chain].block_number()
        head = self.d.runtime.head
        await wait_until(lambda: (head.number_of(chain) or -1) >= target, timeout)
        return target


@asynccontextmanager
async def three_chains(tmp_path: Path, *, proxied: str | None = None) -> AsyncIterator[Chains]:
    """One daemon (watchers on) over three dev chains; ``proxied`` reaches its node through a
    ``NodeProxy`` that can be stopped and started again."""
    async with AsyncExitStack() as stack:
        nodes = dict(
            zip(
                CHAINS,
                await asyncio.gather(
                    *(stack.enter_async_context(dev_chain(cid, bt)) for cid, bt in CHAINS.values())
                ),
                strict=True,
            )
        )
        proxies: dict[str, NodeProxy] = {}
        if proxied is not None:
            proxies[proxied] = NodeProxy(upstream=nodes[proxied].url)
            await proxies[proxied].start()
            stack.push_async_callback(proxies[proxied].stop)
        chains: dict[str, Any] = {}
        for key, (chain_id, block_time) in CHAINS.items():
            url = proxies[key].url if key in proxies else nodes[key].url
            chains[key] = {
                "chain_id": chain_id,
                "rpc_urls": [url],
                "confirmations": 2,
                "poll_interval": 0.1 if block_time is None else block_time,
                "start_block": await nodes[key].block_number() + 1,
                "reconcile_interval": 3600,
                "request_timeout": 2,
            }
        chains["base"]["name"] = "Base (dev)"
        raw = base_config(tmp_path)
        raw.pop("chain")
        raw["chains"] = chains
        raw["assets"] = {
            "0xbtc": {"chain": "l1", "contract": nodes["l1"].token, "decimals": 8},
            "xbtc_base": {"chain": "base", "contract": nodes["base"].token, "decimals": 8},
            "xbtc_arb": {"chain": "arb", "contract": nodes["arb"].token, "decimals": 8},
            "usdc_base": {
                "chain": "base",
                "contract": nodes["base"].stablecoins["TestUSDC"],
                "decimals": 6,
                "symbol": "USDC",
            },
            "usdt_base": {
                "chain": "base",
                "contract": nodes["base"].stablecoins["TestUSDT"],
                "decimals": 6,
                "symbol": "USDT",
            },
            "eth": {"chain": "l1", "native": True},
        }
        yield Chains(await start_daemon(stack, tmp_path, raw), nodes, proxies)


async def test_payments_on_three_chains_are_paid_at_once(tmp_path: Path) -> None:
    async with three_chains(tmp_path) as c:
        requests = {key: await c.pay_request(key, "1.5") for key in CHAINS}
        addresses = {r["address"] for r in requests.values()}
        assert len(addresses) == 3  # one derivation counter: never one address twice
        for key, r in requests.items():
            chain_id = CHAINS[key][0]
            assert (r["chain"], r["chain_id"]) == (key, chain_id)
            assert f"@{chain_id}/transfer?address={r['address']}" in r["payment_uri"]
        await asyncio.gather(
            *(c.nodes[k].pay_tokens(r["address"], units("1.5")) for k, r in requests.items())
        )
        await c.nodes["l1"].mine(2)  # the chain without interval mining
        for key, r in requests.items():
            paid = await c.until(r["id"], "paid")
            assert paid.amount_received == Decimal("1.5")
            reply = await c.d.call("get_payment", {"id": r["id"]})
            got = reply["result"]
            assert (got["chain"], got["chain_id"]) == (key, CHAINS[key][0])
            status, doc = await c.d.status(r["id"])
            assert status == 200
            assert list(doc)[:6] == ["address", "amount", "seen_at", "paid_at", "tx_hash", "status"]
            assert (doc["chain"], doc["chain_id"]) == (key, CHAINS[key][0])
            assert list(doc)[-2:] == ["chain", "chain_id"]
        cursors = await c.d.runtime.db.fetchall("SELECT chain FROM chain_cursor ORDER BY chain")
        assert [r["chain"] for r in cursors] == ["arb", "base", "l1"]  # a cursor per chain


async def test_the_checkout_page_names_the_network(tmp_path: Path) -> None:
    async with three_chains(tmp_path) as c:
        r = await c.pay_request("base", "2")
        async with c.d.session.get(f"{c.d.public_url}/pay/{r['id']}") as resp:
            page = await resp.text()
        assert "on Base (dev) (chain id 8453)" in page
        r = await c.pay_request("arb", "2")
        async with c.d.session.get(f"{c.d.public_url}/pay/{r['id']}") as resp:
            page = await resp.text()
        assert "on Arbitrum One (chain id 42161)" in page  # a known chain id without name


async def test_a_transfer_on_the_wrong_chain_never_pays(tmp_path: Path) -> None:
    async with three_chains(tmp_path) as c:
        requests = {key: await c.pay_request(key, "1.5") for key in CHAINS}
        for key, r in requests.items():
            for other in CHAINS:  # the same token contract, address and amount: elsewhere
                if other != key:
                    await c.nodes[other].pay_tokens(r["address"], units("1.5"))
        await c.nodes["l1"].mine(3)
        for key in CHAINS:
            await c.scanned(key)
        for key, r in requests.items():
            p = await c.payment(r["id"])
            assert p.status.value == "new" and p.amount_received == 0
            assert await c.d.runtime.payments.events(r["id"]) != []
            assert [e["event"] for e in await c.d.runtime.payments.events(r["id"])] == ["created"]
            got = (await c.d.call("get_payment", {"id": r["id"]}))["result"]
            assert got["status"] == "new" and got["amount_received"] == "0.0"
            strays = sorted(got["stray_deposits"], key=lambda s: s["chain"])
            others = sorted(k for k in CHAINS if k != key)
            assert [(s["chain"], s["chain_id"], s["asset"]) for s in strays] == [
                (k, CHAINS[k][0], ASSET_OF[k]) for k in others
            ]
            assert all(s["amount"] == "1.5" and s["units"] == str(units("1.5")) for s in strays)
            assert all(s["address"] == r["address"] and s["tx_hash"] for s in strays)
        funds = (await c.d.call("funds.summary", {}))["result"]
        listed = {(s["payment_id"], s["chain"]) for s in funds["stray_deposits"]}
        assert listed == {(r["id"], k) for key, r in requests.items() for k in CHAINS if k != key}
        assert funds["assets"]["0xbtc"]["received"] == "0"  # strays are not received funds


async def test_another_asset_on_the_same_chain_is_a_stray_too(tmp_path: Path) -> None:
    async with three_chains(tmp_path) as c:
        r = await c.pay_request("l1", "1")  # 0xBTC on l1, where ETH is an asset as well
        await c.nodes["l1"].pay_eth(r["address"], 10**18)
        await c.nodes["l1"].mine(3)
        await c.scanned("l1")
        got = (await c.d.call("get_payment", {"id": r["id"]}))["result"]
        assert got["status"] == "new" and got["amount_received"] == "0.0"
        assert [(s["chain"], s["asset"], s["amount"]) for s in got["stray_deposits"]] == [
            ("l1", "eth", "1")
        ]
        on_eth = await c.d.start_payment("1", asset="eth")  # while ETH pays an ETH payment
        await c.nodes["l1"].pay_eth(on_eth["address"], 10**18)
        await c.nodes["l1"].mine(2)
        paid = await c.until(on_eth["id"], "paid")
        assert paid.amount_received == 1
        got = (await c.d.call("get_payment", {"id": on_eth["id"]}))["result"]
        assert got["stray_deposits"] == []


async def test_a_stopped_node_holds_up_only_its_own_chain(tmp_path: Path) -> None:
    async with three_chains(tmp_path, proxied="base") as c:
        proxy = c.proxies["base"]
        start = await c.scanned("base")
        heads = c.d.runtime.head
        await wait_until(lambda: (heads.number_of("base") or 0) >= start + 6)  # block time
        await proxy.stop()  # base's only node goes away
        requests = {key: await c.pay_request(key, "1") for key in CHAINS}
        await asyncio.gather(
            *(c.nodes[k].pay_tokens(r["address"], units("1")) for k, r in requests.items())
        )
        await c.nodes["l1"].mine(2)
        await c.until(requests["l1"]["id"], "paid")
        await c.until(requests["arb"]["id"], "paid")
        assert (await c.payment(requests["base"]["id"])).status.value == "new"
        _, doc = await c.d.status(requests["base"]["id"])
        assert doc["status"] == "new"  # status.json answers meanwhile
        await wait_until(lambda: heads.chains["base"].stale, timeout=20)  # 10 block times
        status, body = await health_of(c.d)
        assert status == 503 and body["checks"]["chain"]["chains"]["base"]["stale"] is True
        assert body["checks"]["chain"]["chains"]["arb"]["stale"] is False

        await proxy.start()  # back: base catches up with the blocks it missed
        await c.until(requests["base"]["id"], "paid")
        await wait_until(lambda: not heads.chains["base"].stale, timeout=20)


async def test_a_reorg_on_one_chain_while_another_pays(tmp_path: Path) -> None:
    async with three_chains(tmp_path) as c:
        on_l1 = await c.pay_request("l1", "1.5")
        on_base = await c.pay_request("base", "1.5")
        await c.nodes["l1"].pay_tokens(on_l1["address"], units("1.5"))
        await c.until(on_l1["id"], "seen")
        await c.nodes["base"].pay_tokens(on_base["address"], units("1.5"))
        await c.nodes["l1"].reorg(1)  # the paying block of l1 disappears
        back = await c.until(on_l1["id"], "new")
        assert back.tx_hash is None and back.amount_received == 0
        paid = await c.until(on_base["id"], "paid")  # base goes on, untouched
        assert paid.amount_received == Decimal("1.5") and not paid.reorged
        deposits = await c.d.runtime.db.fetchall(
            "SELECT chain, payment_id FROM deposits ORDER BY chain"
        )
        assert [(d["chain"], d["payment_id"]) for d in deposits] == [("base", on_base["id"])]


async def test_stablecoins_with_six_decimals_and_without_a_transfer_result_pay(
    tmp_path: Path,
) -> None:
    async with three_chains(tmp_path) as c:
        usdc = await c.d.start_payment("12.345678", asset="usdc_base")
        usdt = await c.d.start_payment("0.000001", asset="usdt_base")
        assert (usdc["chain"], usdt["chain"]) == ("base", "base")
        assert usdc["payment_uri"].endswith(
            f"@8453/transfer?address={usdc['address']}&uint256=12345678"
        )
        refused = await c.d.call("start_payment", {"amount": "1.0000001", "asset": "usdt_base"})
        assert refused["error"]["message"] == "Invalid params: invalid amount"
        base = c.nodes["base"]
        await base.pay_stablecoin("TestUSDC", usdc["address"], 12_345_678)
        await base.pay_stablecoin("TestUSDT", usdt["address"], 1)
        paid_usdc = await c.until(usdc["id"], "paid")
        paid_usdt = await c.until(usdt["id"], "paid")
        assert paid_usdc.amount_received == Decimal("12.345678")
        assert paid_usdt.amount_received == Decimal("0.000001")
        _, doc = await c.d.status(usdc["id"])
        assert doc["amount"] == "12.345678" and doc["amount_received"] == "12.345678"
        # USDT to the USDC payment's address: another asset of the chain, a stray
        await base.pay_stablecoin("TestUSDT", usdc["address"], 5_000_000)
        await c.scanned("base")
        got = (await c.d.call("get_payment", {"id": usdc["id"]}))["result"]
        assert got["status"] == "paid" and got["amount_received"] == "12.345678"
        assert [(s["asset"], s["amount"]) for s in got["stray_deposits"]] == [("usdt_base", "5")]


async def health_of(d: DaemonHandle) -> tuple[int, dict[str, Any]]:
    async with d.session.get(f"{d.rpc_url}/healthz") as resp:
        return resp.status, await resp.json()


async def public_health(d: DaemonHandle) -> tuple[int, dict[str, Any]]:
    async with d.session.get(f"{d.public_url}/healthz") as resp:
        return resp.status, await resp.json()


async def metrics_text(d: DaemonHandle) -> str:
    async with d.session.get(f"{d.rpc_url}/metrics") as resp:
        return await resp.text()


async def test_a_frozen_node_is_stale_and_holds_expiry_until_it_moves_again(
    tmp_path: Path,
) -> None:
    clock = Clock()
    async with AsyncExitStack() as stack:
        l1 = await stack.enter_async_context(dev_chain(31337, None))
        base = await stack.enter_async_context(dev_chain(8453, 1))
        raw = base_config(tmp_path)
        raw.pop("chain")
        raw["chains"] = {
            "l1": {"chain_id": 31337, "rpc_urls": [l1.url], "poll_interval": 0.1},
            "base": {
                "chain_id": 8453,
                "name": "Base (dev)",
                "rpc_urls": [base.url],
                "poll_interval": 0.2,
                "stale_after": 5,
                "start_block": await base.block_number() + 1,
            },
        }
        raw["assets"] = {
            "0xbtc": {"chain": "l1", "contract": l1.token, "decimals": 8},
            "xbtc_base": {"chain": "base", "contract": base.token, "decimals": 8},
        }
        d = await start_daemon(stack, tmp_path, raw, clock)
        on_base = await d.start_payment("1", asset="xbtc_base", expires_in=60)
        on_l1 = await d.start_payment("1", asset="0xbtc", expires_in=60)
        head = d.runtime.head
        await wait_until(lambda: head.number is not None and head.number_of("base"))
        status, body = await health_of(d)
        assert status == 200, body
        assert body["checks"]["chain"]["chains"]["base"]["stale"] is False

        await base.set_automine(False)  # mining stops: the node still answers, at an old head
        await wait_until(lambda: head.chains["base"].stale, timeout=20)
        status, body = await health_of(d)
        assert status == 503 and body["status"] == "degraded"
        stale = body["checks"]["chain"]["chains"]["base"]
        assert stale["stale"] is True and stale["stale_urls"] == [base.url]
        assert stale["head_age_seconds"] >= 5  # (rounded to 0.1 s)
        assert body["checks"]["chain"]["chains"]["l1"]["stale"] is False
        assert await public_health(d) == (503, {"status": "degraded"})
        text = await metrics_text(d)
        assert f'xbtcpay_chain_rpc_stale{{chain="base",url="{base.url}"}} 1.0' in text
        assert 'xbtcpay_chain_head_age_seconds{chain="base"}' in text
        async with d.session.get(f"{d.public_url}/pay/{on_base['id']}") as resp:
            assert "confirmations of this payment are delayed" in await resp.text()
        async with d.session.get(f"{d.public_url}/pay/{on_l1['id']}") as resp:
            assert "delayed" not in await resp.text()

        clock.advance(120)  # both payments are past their deadline
        await wait_until(lambda: has_status(d, on_l1["id"], "expired"), timeout=10)
        await asyncio.sleep(1)  # several more expiry rounds
        assert await has_status(d, on_base["id"], "new")  # held: its chain is stale

        await base.client.call("evm_setIntervalMining", [1])  # the node moves again
        await wait_until(lambda: not head.chains["base"].stale, timeout=20)
        await wait_until(lambda: has_status(d, on_base["id"], "expired"), timeout=10)
        assert (await health_of(d))[0] == 200


async def test_a_lagging_second_url_is_skipped(tmp_path: Path) -> None:
    async with AsyncExitStack() as stack:
        l1 = await stack.enter_async_context(dev_chain(31337, None))
        base = await stack.enter_async_context(dev_chain(8453, 0.25))
        behind = await stack.enter_async_context(Anvil(chain_id=8453))  # stays at genesis
        await wait_until(lambda: has_head(base, 10))
        raw = base_config(tmp_path)
        raw.pop("chain")
        raw["chains"] = {
            "l1": {"chain_id": 31337, "rpc_urls": [l1.url], "poll_interval": 0.1},
            "base": {
                "chain_id": 8453,
                "rpc_urls": [behind.url, base.url],  # the lagging one first
                "poll_interval": 0.25,
                "max_lag_blocks": 3,
                "start_block": await base.block_number() + 1,
            },
        }
        raw["assets"] = {
            "0xbtc": {"chain": "l1", "contract": l1.token, "decimals": 8},
            "xbtc_base": {"chain": "base", "contract": base.token, "decimals": 8},
        }
        d = await start_daemon(stack, tmp_path, raw)
        r = await d.start_payment("2", asset="xbtc_base")
        await base.pay_tokens(r["address"], units("2"))
        await wait_until(lambda: has_status(d, r["id"], "paid"), timeout=30)
        status, body = await health_of(d)
        own = body["checks"]["chain"]["chains"]["base"]
        assert own["stale_urls"] == [behind.url] and own["stale"] is False
        assert status == 200  # one good node is enough
        text = await metrics_text(d)
        assert f'xbtcpay_chain_rpc_stale{{chain="base",url="{behind.url}"}} 1.0' in text
        assert f'xbtcpay_chain_rpc_stale{{chain="base",url="{base.url}"}} 0.0' in text


async def has_head(node: DevChain, number: int) -> bool:
    return await node.block_number() >= number


async def test_block_tag_confirmations_pay_at_or_below_the_tag(tmp_path: Path) -> None:
    epoch = ("--slots-in-an-epoch", "1")  # the tags trail the head by a few blocks
    async with AsyncExitStack() as stack:
        l1 = await stack.enter_async_context(dev_chain(31337, None, epoch))
        base = await stack.enter_async_context(dev_chain(8453, 0.25, epoch))
        raw = base_config(tmp_path)
        raw.pop("chain")
        raw["chains"] = {
            "l1": {
                "chain_id": 31337,
                "rpc_urls": [l1.url],
                "poll_interval": 0.1,
                "confirmations": "finalized",
            },
            "base": {
                "chain_id": 8453,
                "rpc_urls": [base.url],
                "poll_interval": 0.25,
                "confirmations": "safe",
                "start_block": await base.block_number() + 1,
            },
        }
        raw["assets"] = {
            "0xbtc": {"chain": "l1", "contract": l1.token, "decimals": 8},
            "xbtc_base": {"chain": "base", "contract": base.token, "decimals": 8},
        }
        d = await start_daemon(stack, tmp_path, raw)
        on_l1 = await d.start_payment("1", asset="0xbtc")
        on_base = await d.start_payment("1", asset="xbtc_base")
        _, doc = await d.status(on_base["id"])
        assert doc["required_confirmations"] == "safe"
        await base.pay_tokens(on_base["address"], units("1"))
        await l1.pay_tokens(on_l1["address"], units("1"))
        seen = await wait_until(lambda: payment_in(d, on_l1["id"], "seen"))
        finalized = await l1.client.get_block("finalized")
        assert finalized is not None and int(finalized["number"]) < seen.tx_block
        await l1.mine(1)
        await asyncio.sleep(0.5)  # polls at heads where its block is still above the tag
        assert await has_status(d, on_l1["id"], "seen")
        await l1.mine(4)
        paid = await wait_until(lambda: payment_in(d, on_l1["id"], "paid"))
        finalized = await l1.client.get_block("finalized")
        assert finalized is not None and int(finalized["number"]) >= paid.tx_block
        paid = await wait_until(lambda: payment_in(d, on_base["id"], "paid"), timeout=30)
        safe = await base.client.get_block("safe")
        assert safe is not None and int(safe["number"]) >= paid.tx_block


async def payment_in(d: DaemonHandle, payment_id: str, status: str) -> Payment | None:
    payment: Payment = await d.processor.get(payment_id)
    return payment if payment.status.value == status else None


async def test_replicas_one_leader_scans_both_chains_and_failover_resumes_both(
    tmp_path: Path, postgres: PgServer
) -> None:
    url = postgres.create_database("chains_" + secrets.token_hex(4))
    async with AsyncExitStack() as stack:
        l1 = await stack.enter_async_context(dev_chain(31337, None))
        base = await stack.enter_async_context(dev_chain(8453, 0.25))
        chains = {
            "l1": {"chain_id": 31337, "rpc_urls": [l1.url], "poll_interval": 0.1},
            "base": {"chain_id": 8453, "rpc_urls": [base.url], "poll_interval": 0.25},
        }
        assets = {
            "0xbtc": {"chain": "l1", "contract": l1.token, "decimals": 8},
            "xbtc_base": {"chain": "base", "contract": base.token, "decimals": 8},
        }
        handles = []
        for n in range(2):
            directory = tmp_path / f"r{n}"
            directory.mkdir()
            raw = base_config(directory)
            raw.pop("chain")
            raw.update(chains=chains, assets=assets, database=url)
            raw["cluster"] = {"replica_id": f"r{n}", "lease_ttl": 1.5}
            handles.append(await start_daemon(stack, directory, raw))
        first, second = handles
        await wait_until(lambda: first.runtime.leadership.is_leader)

        async def pay_both(via: DaemonHandle) -> None:
            on_l1 = await via.start_payment("1", asset="0xbtc")
            on_base = await via.start_payment("1", asset="xbtc_base")
            await l1.pay_tokens(on_l1["address"], units("1"))
            await base.pay_tokens(on_base["address"], units("1"))
            await l1.mine(3)
            for pid in (on_l1["id"], on_base["id"]):
                await wait_until(functools.partial(has_status, via, pid, "paid"), timeout=30)

        await pay_both(second)  # created on the follower, paid by the leader's two watchers
        heads = second.runtime.head  # the follower knows both heads from the scan cursors
        await wait_until(lambda: heads.number is not None and heads.number_of("base"))
        rows = await second.runtime.db.fetchall("SELECT chain, term FROM chain_cursor")
        term = first.runtime.leadership.leader_term
        assert {(r["chain"], r["term"]) for r in rows} == {("l1", term), ("base", term)}

        await first.daemon.stop()  # the leader goes: the other replica takes both chains over
        await wait_until(lambda: second.runtime.leadership.is_leader, timeout=15)
        await pay_both(second)
        rows = await second.runtime.db.fetchall("SELECT chain, term FROM chain_cursor")
        newer = second.runtime.leadership.leader_term
        assert newer > term
        assert {(r["chain"], r["term"]) for r in rows} == {("l1", newer), ("base", newer)}


@pytest.mark.timeout(180)
async def test_kill_9_during_a_multi_chain_scan_loses_and_doubles_nothing(tmp_path: Path) -> None:
    per_chain = 12
    async with AsyncExitStack() as stack:
        l1 = await stack.enter_async_context(dev_chain(31337, None))
        base = await stack.enter_async_context(dev_chain(8453, 0.25))
        nodes = {"0xbtc": l1, "xbtc_base": base}
        raw = base_config(tmp_path)
        raw.pop("chain")
        raw["chains"] = {
            "l1": {
                "chain_id": 31337,
                "rpc_urls": [l1.url],
                "poll_interval": 0.1,
                "start_block": await l1.block_number() + 1,
            },
            "base": {
                "chain_id": 8453,
                "rpc_urls": [base.url],
                "poll_interval": 0.25,
                "start_block": await base.block_number() + 1,
            },
        }
        raw["assets"] = {
            "0xbtc": {"chain": "l1", "contract": l1.token, "decimals": 8},
            "xbtc_base": {"chain": "base", "contract": base.token, "decimals": 8},
        }
        daemon = DaemonProcess(write_config(tmp_path, raw))
        await daemon.start()
        stack.callback(daemon.terminate)
        session = await stack.enter_async_context(aiohttp.ClientSession())

        async def rpc(method: str, params: dict[str, Any]) -> Any:
            body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
            async with session.post(daemon.rpc_url + "/", json=body) as resp:
                reply = await resp.json()
            assert "result" in reply, reply
            return reply["result"]

        created = [
            await rpc("start_payment", {"amount": f"1.{i:02d}", "asset": asset})
            for i in range(per_chain)
            for asset in nodes
        ]
        for n, p in enumerate(created):
            await nodes[p["asset"]].pay_tokens(p["address"], units(p["amount"]))
            if n == len(created) // 2:
                await asyncio.sleep(0.3)  # both watchers busy
                daemon.kill9()
        await l1.mine(3)
        await daemon.start()

        async def all_paid() -> bool:
            for p in created:
                if (await rpc("get_payment", {"id": p["id"]}))["status"] != "paid":
                    return False
            return True

        await wait_until(all_paid, timeout=90, interval=0.3)
        daemon.terminate()
    db = tmp_path / "xbtcpay.db"
    deposits = query(db, "SELECT payment_id, chain FROM deposits")
    chain_of = {"0xbtc": "l1", "xbtc_base": "base"}
    assert sorted((d["payment_id"], d["chain"]) for d in deposits) == sorted(
        (p["id"], chain_of[p["asset"]]) for p in created
    )  # each transfer counted once, on its own chain
    paid = query(db, "SELECT payment_id FROM payment_events WHERE event = 'paid'")
    assert sorted(r["payment_id"] for r in paid) == sorted(p["id"] for p in created)
    assert query(db, "SELECT COUNT(*) AS n FROM stray_deposits") == [{"n": 0}]

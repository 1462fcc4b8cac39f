"""Several EVM chains watched by one daemon: three anvils with their own chain ids and block
times, one watcher (leader job) per chain, the same deposit address on every chain.

The test token is deployed first by dev account 0 on every node, so it has the same contract
address everywhere: exactly the situation a transfer on the wrong chain comes from.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp

from tests.chain.node_proxy import NodeProxy
from tests.chain.watching import units
from tests.fixtures.chain import DevChain
from tests.harness import DaemonHandle, base_config, wait_until, write_config
from xbtcpay.app.config import parse_config
from xbtcpay.app.daemon import Daemon
from xbtcpay.chain import devchain
from xbtcpay.chain.anvil import Anvil
from xbtcpay.chain.client import ChainClient
from xbtcpay.core.models import Payment

# key -> (chain id, anvil --block-time; None: a block per transaction, mined on demand)
CHAINS: dict[str, tuple[int, float | None]] = {
    "l1": (31337, None),
    "base": (8453, 0.25),
    "arb": (42161, 0.5),
}
ASSET_OF = {"l1": "0xbtc", "base": "usdc_base", "arb": "token_arb"}


@asynccontextmanager
async def dev_chain(chain_id: int, block_time: float | None) -> AsyncIterator[DevChain]:
    """An anvil of its own with the test contracts (the fixtures' ``own_chain``, with a
    chain id and a block time)."""
    node = await asyncio.to_thread(Anvil(chain_id=chain_id, block_time=block_time).start)
    try:
        async with ChainClient([node.url], timeout=10) as client:
            key = devchain.dev_key(0)
            token = await devchain.deploy(client, "TestZeroXBitcoin", key, [devchain.TOKEN_SUPPLY])
            forwarder = await devchain.deploy(client, "EthForwarder", key, [])
            yield DevChain(anvil=node, client=client, token=token, forwarder=forwarder)
    finally:
        await asyncio.to_thread(node.stop)


@dataclass
class Chains:
    d: DaemonHandle
    nodes: dict[str, DevChain]
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
            "usdc_base": {"chain": "base", "contract": nodes["base"].token, "decimals": 8},
            "token_arb": {"chain": "arb", "contract": nodes["arb"].token, "decimals": 8},
        }
        config = parse_config(raw, write_config(tmp_path, raw))
        daemon = Daemon(config, watcher=True, expiry_interval=0.2)
        await daemon.start()
        stack.push_async_callback(daemon.stop)
        session = await stack.enter_async_context(aiohttp.ClientSession())
        handle = DaemonHandle(
            daemon,
            config,
            session,
            f"http://127.0.0.1:{daemon.rpc_port}",
            f"http://127.0.0.1:{daemon.public_port}",
        )
        yield Chains(handle, nodes, proxies)


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
        for r in requests.values():
            p = await c.payment(r["id"])
            assert p.status.value == "new" and p.amount_received == 0
            deposits = await c.d.runtime.db.fetchall(
                "SELECT * FROM deposits WHERE payment_id = ?", (r["id"],)
            )
            assert deposits == []


async def test_a_stopped_node_holds_up_only_its_own_chain(tmp_path: Path) -> None:
    async with three_chains(tmp_path, proxied="base") as c:
        proxy = c.proxies["base"]
        await c.scanned("base")
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

        await proxy.start()  # back: base catches up with the blocks it missed
        await c.until(requests["base"]["id"], "paid")


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

"""Scenario 1: seeded random reorgs interleaved with payments, partial payments and re-mined
transfers, against a daemon whose watcher follows the session anvil.

Every step is drawn from ``random.Random(seed)`` (the seed is printed; ``XBTCPAY_SEED``
replays it): create a payment, pay one (in full, in part, or too much), mine blocks, or
reorg the chain ``1 .. confirmations + 2`` blocks deep. A reorg always puts a filler
transaction in the first new block (re-mining empty blocks can give back the same hashes),
re-mines a random share of the orphaned token transfers at random heights of the new branch
and drops the rest (anvil drops orphaned transactions). Some chain changes are rollbacks
instead: the node reverts to an earlier tip of its chain (an EVM snapshot at most
``confirmations + 2`` blocks down), so its head number goes backwards and the next blocks
differ from the ones the watcher saw. Every few steps, once the watcher
has caught up, the invariants must hold against the node; at the end every payment still
short of its amount is topped up and everything must be paid, reported and consistent.
"""

from __future__ import annotations

import asyncio
import collections
import os
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.chain.watching import chain_overrides
from tests.fixtures.chain import DevChain, own_chain
from tests.harness import DaemonHandle, PostbackReceiver, running_daemon, wait_until
from tests.reliability import invariants
from tests.reliability.scenario import SEED_KINDS, quiet_logs, report, seed
from xbtcpay.chain import devchain

CONFIRMATIONS = int(os.environ.get("XBTCPAY_CONFIRMATIONS") or 3)  # longer runs: set these
REORGS = int(os.environ.get("XBTCPAY_REORGS") or 55)
MAX_PAYMENTS = 40
CHECK_EVERY = 12
OTHER = "0x000000000000000000000000000000000000dEaD"


@dataclass
class Transfer:
    """A token transfer the test made, and the block it sits in now."""

    to: str
    units: int
    block: int


@dataclass
class Rollback:
    """An EVM snapshot of an earlier tip of the current chain, to roll the node back to.

    anvil_reorg forgets every snapshot above its common ancestor, so these are always
    ancestors of the head: rolling back makes the node's head go backwards.
    """

    snapshot: str
    height: int
    transfers: list[Transfer]


def _transfer_request(chain: DevChain, to: str, units: int) -> dict[str, Any]:
    return {
        "from": chain.payer.address,
        "to": chain.token,
        "gas": hex(100_000),
        "data": devchain.calldata("transfer(address,uint256)", ["address", "uint256"], [to, units]),
    }


def _filler() -> dict[str, Any]:
    return {"from": devchain.dev_key(1).address, "to": OTHER, "value": hex(1), "gas": hex(21_000)}


class Fuzzer:
    """Draws and performs the steps; keeps track of what the test put on chain."""

    def __init__(self, rng: random.Random, chain: DevChain, d: DaemonHandle, shop: str) -> None:
        self.rng = rng
        self.chain = chain
        self.d = d
        self.shop = shop
        self.payments: dict[str, dict[str, Any]] = {}
        self.transfers: list[Transfer] = []
        self.rollbacks: list[Rollback] = []
        self.counts: collections.Counter[str] = collections.Counter()

    async def step(self) -> None:
        roll = self.rng.random()
        if roll < 0.22 and len(self.payments) < MAX_PAYMENTS or not self.payments:
            await self.create()
        elif roll < 0.55:
            await self.pay()
            await self.remember_tip()
        elif roll < 0.7:
            await self.chain.mine(self.rng.randint(1, 3))
            self.counts["mine_steps"] += 1
            await self.remember_tip()
        elif roll < 0.9 or not await self.roll_back():
            await self.reorg()

    async def create(self) -> None:
        amount = f"{self.rng.randint(1, 99)}.{self.rng.randint(0, 99_999_999):08d}"
        p = await self.d.start_payment(amount, postback_url=self.shop)
        self.payments[p["id"]] = p

    async def pay(self) -> None:
        p = self.payments[self.rng.choice(sorted(self.payments))]
        amount = invariants._units(p["amount"], 8)
        kind = self.rng.choice(["full", "full", "part", "over"])
        units = {
            "full": amount,
            "part": max(1, amount // self.rng.randint(2, 4)),
            "over": amount + self.rng.randint(1, 10**8),
        }[kind]
        await self.send(p["address"], units)
        self.counts[f"pay_{kind}"] += 1

    async def send(self, to: str, units: int) -> None:
        tx = await self.chain.pay_tokens(to, units)
        receipt = await self.chain.client.call("eth_getTransactionReceipt", [tx])
        self.transfers.append(Transfer(to.lower(), units, int(receipt["blockNumber"], 16)))

    async def node_kept_state(self, what: str) -> None:
        """Stop with a clear message when anvil itself loses the chain state.

        anvil 1.7.1 does after some 700 blocks of reorgs and snapshots (the token's code
        disappears); the default run stays far below that. It is not a daemon failure.
        """
        if await self.chain.client.call("eth_getCode", [self.chain.token, "latest"]) == "0x":
            pytest.fail(
                f"anvil lost its state after {what}: runs this long are beyond the"
                " test node (not a daemon failure)"
            )

    async def remember_tip(self) -> None:
        head = await self.chain.block_number()
        snapshot = await devchain.snapshot(self.chain.client)
        self.rollbacks = [r for r in self.rollbacks if r.height >= head - CONFIRMATIONS - 2]
        self.rollbacks.append(Rollback(snapshot, head, list(self.transfers)))

    async def roll_back(self) -> bool:
        """The node goes back to an earlier tip at most ``confirmations + 2`` blocks below
        its head (its head number decreases); False when no such tip was remembered."""
        head = await self.chain.block_number()
        usable = [
            i for i, r in enumerate(self.rollbacks) if head - CONFIRMATIONS - 2 <= r.height < head
        ]
        if not usable:
            return False
        index = self.rng.choice(usable)
        target = self.rollbacks[index]
        assert await devchain.revert(self.chain.client, target.snapshot)
        await self.node_kept_state(f"a rollback to block {target.height}")
        del self.rollbacks[index:]  # reverting consumed it and later ones
        self.transfers = list(target.transfers)
        self.counts["rollbacks"] += 1
        self.counts[f"rollback_depth_{head - target.height}"] += 1
        return True

    async def reorg(self) -> None:
        depth = self.rng.randint(1, CONFIRMATIONS + 2)
        head = await self.chain.block_number()
        ancestor = head - depth
        pairs: list[tuple[dict[str, Any] | str, int]] = [(_filler(), 0)]
        kept: list[Transfer] = []
        for t in self.transfers:
            if t.block <= ancestor:
                kept.append(t)
            elif self.rng.random() < 0.6:
                index = self.rng.randrange(depth)
                pairs.append((_transfer_request(self.chain, t.to, t.units), index))
                kept.append(Transfer(t.to, t.units, ancestor + 1 + index))
                self.counts["transfers_remined"] += 1
            else:
                self.counts["transfers_dropped"] += 1
        await self.chain.reorg(depth, pairs)
        await self.node_kept_state(f"anvil_reorg of depth {depth} at block {head}")
        self.rollbacks = [r for r in self.rollbacks if r.height <= ancestor]
        self.transfers = kept
        self.counts["reorgs"] += 1
        self.counts[f"reorg_depth_{depth}"] += 1

    async def top_up(self) -> None:
        """Pay what every unpaid payment still lacks on chain (flagged ones stay as they are)."""
        on_chain: dict[str, int] = collections.defaultdict(int)
        for t in self.transfers:
            on_chain[t.to] += t.units
        for pid in sorted(self.payments):
            p = await self.d.processor.get(pid)
            short = invariants._units(self.payments[pid]["amount"], 8) - on_chain[p.address]
            if p.status.value in ("new", "seen") and short > 0:
                await self.send(str(p.address), short)
                self.counts["top_ups"] += 1


async def _caught_up(d: DaemonHandle, chain: DevChain) -> None:
    head = await chain.block_number()
    await wait_until(lambda: (d.runtime.head.number or -1) >= head, 20)


@pytest.fixture
async def fresh_chain() -> AsyncIterator[DevChain]:
    """Each run on an anvil of its own: hundreds of reorgs and snapshots per run would
    otherwise add up on the session node with the other runs and tests before it, until anvil
    loses its state partway through whichever run comes later (seen: the random-seed run,
    after the fixed-seed one, at block 12)."""
    async with own_chain() as chain:
        yield chain


@pytest.mark.timeout(120 + 2 * REORGS)
@pytest.mark.parametrize("seed_kind", SEED_KINDS)
async def test_random_reorgs_lose_and_double_nothing(
    tmp_path: Path, fresh_chain: DevChain, seed_kind: str
) -> None:
    chain = fresh_chain
    rng = random.Random(seed("reorg_fuzz", seed_kind))
    start = await chain.block_number() + 1
    await chain.mine(CONFIRMATIONS + 3)  # reorgs stay above the watcher's start
    heads = invariants.HeadLog(chain.url)
    node = invariants.Node(chain.url, chain.token, start, CONFIRMATIONS, heads=heads)
    db = tmp_path / "xbtcpay.db"
    checks = 0
    with quiet_logs("critical"):
        async with (
            PostbackReceiver() as shop,
            heads,
            running_daemon(
                tmp_path,
                chain_overrides(chain, start, {"chain": {"confirmations": CONFIRMATIONS}}),
                watcher=True,
            ) as d,
        ):
            fuzz = Fuzzer(rng, chain, d, shop.url)
            steps = 0
            while fuzz.counts["reorgs"] < REORGS:
                await fuzz.step()
                steps += 1
                await asyncio.sleep(rng.uniform(0, 0.2))
                if steps % CHECK_EVERY == 0:
                    await _caught_up(d, chain)
                    result = await invariants.eventually(
                        db, fuzz.payments, lambda: shop.received, node
                    )
                    result.assert_ok()
                    checks += 1
            await fuzz.top_up()
            await chain.mine(CONFIRMATIONS)
            await _caught_up(d, chain)
            final = await invariants.eventually(
                db, fuzz.payments, lambda: shop.received, node, timeout=30
            )
            events = await d.runtime.db.fetchall(
                "SELECT event, COUNT(*) AS n FROM payment_events GROUP BY event"
            )
    counts = {
        **final.counts,
        **fuzz.counts,
        "steps": steps,
        "intermediate_checks": checks,
        "events": {r["event"]: r["n"] for r in events},
        "violations": len(final.violations),
    }
    report("reorg_fuzz", counts)
    final.assert_ok()
    assert final.counts["paid"] == len(fuzz.payments)

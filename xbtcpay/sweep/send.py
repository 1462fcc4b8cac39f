"""``xbtcpay sweep send``: type-4 batches from the gas wallet, confirmed and recorded.

Every transaction is recorded (with its raw bytes) before it is broadcast, so a crash never
loses track of one. ``confirm`` waits for the configured confirmations; a transaction that
leaves the chain meanwhile (reorg) is recorded as reorged and broadcast again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import structlog
from eth_account import Account
from eth_account.signers.local import LocalAccount

from xbtcpay.chain.client import ChainClient, NodeError
from xbtcpay.sweep.batching import gas_cap, pack
from xbtcpay.sweep.contracts import sweep_calldata
from xbtcpay.sweep.errors import SweepRefused
from xbtcpay.sweep.moved import confirmations_needed, moved_units
from xbtcpay.sweep.plan import EIP7702, SignedPlan
from xbtcpay.sweep.planner import sweep_settings
from xbtcpay.sweep.records import CONFIRMED, FAILED, REORGED, SweepStore
from xbtcpay.sweep.settings import SweepInputs
from xbtcpay.sweep.verify import Checked, Ready, check_signed

log = structlog.get_logger("xbtcpay.sweep")
TIP = 10**9


@dataclass(frozen=True)
class Fees:
    base_fee: int
    tip: int

    @property
    def max_fee(self) -> int:
        return 2 * self.base_fee + self.tip


@dataclass(frozen=True)
class Batch:
    ready: list[Ready]
    gas: int  # gas limit of its transaction


@dataclass(frozen=True)
class Estimate:
    batches: tuple[Batch, ...]
    fees: Fees
    gas_wallet: str
    gas_wallet_balance: int

    @property
    def addresses(self) -> int:
        return sum(len(b.ready) for b in self.batches)

    @property
    def total_gas(self) -> int:
        return sum(b.gas for b in self.batches)

    @property
    def max_cost(self) -> int:
        return self.total_gas * self.fees.max_fee

    @property
    def expected_cost(self) -> int:
        return self.total_gas * (self.fees.base_fee + self.fees.tip)


@dataclass
class Pending:
    sweep_id: int
    tx_hash: str
    raw_tx: str
    ready: list[Ready]
    block_hash: str | None = None
    done: str | None = None
    gas_used: int = 0
    fee: int = 0
    units: int = 0


@dataclass
class Report:
    checked: Checked
    estimate: Estimate
    sent: list[Pending] = field(default_factory=list)


def gas_wallet(config: SweepInputs) -> LocalAccount:
    """The gas wallet's key (``sweep.gas_wallet_key``), or a refusal."""
    key = sweep_settings(config).gas_wallet_key
    if key is None:
        raise SweepRefused("sweep.gas_wallet_key is not set")
    account: LocalAccount = Account.from_key(key.reveal())
    return account


class Sender:
    """Sends one signed plan: check, estimate, refuse or broadcast, confirm, record."""

    def __init__(
        self, config: SweepInputs, store: SweepStore, client: ChainClient, *, poll: float = 0.5
    ) -> None:
        self.config = config
        self.store = store
        self.client = client
        self.wallet = gas_wallet(config)
        self.poll = poll

    async def estimate(self, signed: SignedPlan, now: int) -> tuple[Checked, Estimate]:
        if signed.plan.kind != EIP7702:
            raise SweepRefused("this is a gas-station plan (StationSender sends it)")
        checked = await check_signed(self.config, self.store, self.client, signed, now)
        block = await self.client.get_block("latest") or {}
        fees = Fees(int(str(block.get("baseFeePerGas", "0x0")), 16), TIP)
        cap = gas_cap(int(str(block.get("gasLimit", hex(30_000_000))), 16))
        packed = await pack(list(checked.ready), lambda chunk: self._estimate(signed, chunk), cap)
        balance = (await self.client.eth_balances([self.wallet.address], "latest"))[
            self.wallet.address
        ]
        return checked, Estimate(
            tuple(Batch(c, g) for c, g in packed), fees, self.wallet.address, balance
        )

    async def send(self, signed: SignedPlan, now: int) -> Report:
        """Refuse without enough ETH for the worst case; else broadcast every batch."""
        checked, estimate = await self.estimate(signed, now)
        report = Report(checked, estimate)
        if estimate.max_cost > estimate.gas_wallet_balance:
            raise SweepRefused(
                f"the gas wallet {self.wallet.address} holds {estimate.gas_wallet_balance} wei; "
                f"{len(estimate.batches)} sweep transaction(s) may cost up to "
                f"{estimate.max_cost} wei"
            )
        nonce = int(
            await self.client.call("eth_getTransactionCount", [self.wallet.address, "pending"]), 16
        )
        for i, batch in enumerate(estimate.batches):
            report.sent.append(await self._broadcast(signed, batch, nonce + i, estimate.fees))
        return report

    def _tx(self, signed: SignedPlan, chunk: Sequence[Ready]) -> dict[str, Any]:
        plan = signed.plan
        tx: dict[str, Any] = {
            "to": plan.batch,
            "value": 0,
            "data": sweep_calldata(plan.token, [r.entry.address for r in chunk]),
        }
        auths = [r.authorization for r in chunk if r.authorization is not None]
        if auths:
            tx["type"] = 4
            tx["authorizationList"] = [a.signable() for a in auths]
        else:
            tx["type"] = 2
        return tx

    async def _estimate(self, signed: SignedPlan, chunk: Sequence[Ready]) -> int:
        tx = self._tx(signed, chunk)
        rpc: dict[str, Any] = {
            "from": self.wallet.address,
            "to": tx["to"],
            "data": tx["data"],
            "type": hex(tx["type"]),
        }
        if "authorizationList" in tx:
            rpc["authorizationList"] = [
                r.authorization.rpc() for r in chunk if r.authorization is not None
            ]
        try:
            return int(await self.client.call("eth_estimateGas", [rpc]), 16)
        except NodeError as exc:
            raise SweepRefused(f"the node refuses the sweep: {exc}") from None

    async def _broadcast(self, signed: SignedPlan, batch: Batch, nonce: int, fees: Fees) -> Pending:
        plan = signed.plan
        tx = self._tx(signed, batch.ready)
        tx.update(
            chainId=plan.chain_id,
            nonce=nonce,
            gas=batch.gas,
            maxFeePerGas=fees.max_fee,
            maxPriorityFeePerGas=fees.tip,
        )
        signed_tx = self.wallet.sign_transaction(tx)
        raw, tx_hash = "0x" + bytes(signed_tx.raw_transaction).hex(), signed_tx.hash.to_0x_hex()
        sweep_id = await self.store.record_sent(
            tx_hash=tx_hash,
            chain_id=plan.chain_id,
            asset=plan.asset,
            kind=plan.kind,
            treasury=plan.treasury,
            sender=self.wallet.address,
            nonce=nonce,
            gas_limit=batch.gas,
            raw_tx=raw,
            entries=[r.entry for r in batch.ready],
        )
        pending = Pending(sweep_id, tx_hash, raw, batch.ready)
        try:
            await self.client.call("eth_sendRawTransaction", [raw])
        except NodeError as exc:
            await self.store.record_status(sweep_id, FAILED, detail=str(exc))
            pending.done = FAILED
            raise SweepRefused(f"the node refused sweep transaction {tx_hash}: {exc}") from None
        log.info("sweep.sent", tx_hash=tx_hash, addresses=len(batch.ready), gas_limit=batch.gas)
        return pending

    async def confirm(self, signed: SignedPlan, pending: list[Pending]) -> None:
        """Wait until every transaction is confirmed or failed (or ``sweep.timeout``)."""
        settings = sweep_settings(self.config)
        needed = confirmations_needed(self.config)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + settings.timeout
        while any(p.done is None for p in pending) and loop.time() < deadline:
            head = await self.client.block_number()
            for p in pending:
                if p.done is None:
                    await self._check(signed, p, head, needed)
            if any(p.done is None for p in pending):
                await asyncio.sleep(self.poll)

    async def _check(self, signed: SignedPlan, p: Pending, head: int, needed: int) -> None:
        receipt = await self.client.call("eth_getTransactionReceipt", [p.tx_hash])
        if receipt is None:
            if p.block_hash is not None:  # it was mined, and a reorg took it away
                await self.store.record_status(p.sweep_id, REORGED, block_hash=p.block_hash)
                log.warning("sweep.reorged", tx_hash=p.tx_hash)
                p.block_hash = None
            if await self.client.call("eth_getTransactionByHash", [p.tx_hash]) is None:
                await self._rebroadcast(p)  # the node forgot it (reorged away, evicted)
            return
        p.block_hash = str(receipt["blockHash"]).lower()
        number = int(receipt["blockNumber"], 16)
        if receipt.get("status") != "0x1":
            await self.store.record_status(
                p.sweep_id, FAILED, block_number=number, block_hash=p.block_hash, detail="reverted"
            )
            p.done = FAILED
            return
        if head - number + 1 < needed:
            return
        block = await self.client.get_block(number)
        if block is None or str(block["hash"]).lower() != p.block_hash:
            return  # reorged between the two reads: look again
        amounts = await moved_units(
            self.client,
            signed.plan.token,
            signed.plan.treasury,
            [r.entry.address for r in p.ready],
            receipt,
        )
        p.gas_used = int(receipt["gasUsed"], 16)
        p.fee = p.gas_used * int(receipt.get("effectiveGasPrice", "0x0"), 16)
        p.units = sum(amounts.values())
        await self.store.record_status(
            p.sweep_id,
            CONFIRMED,
            block_number=number,
            block_hash=p.block_hash,
            gas_used=p.gas_used,
            fee_wei=p.fee,
            amounts=amounts,
        )
        p.done = CONFIRMED
        log.info(
            "sweep.confirmed",
            tx_hash=p.tx_hash,
            block=number,
            gas_used=p.gas_used,
            units=str(p.units),
        )

    async def _rebroadcast(self, p: Pending) -> None:
        try:
            await self.client.call("eth_sendRawTransaction", [p.raw_tx])
        except NodeError as exc:  # already known, or its nonce was used since
            log.warning("sweep.rebroadcast_refused", tx_hash=p.tx_hash, error=str(exc))

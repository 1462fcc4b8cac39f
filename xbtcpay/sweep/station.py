"""The gas-station flow, for chains without EIP-7702.

The gas wallet first sends each address the ETH for one token transfer (gas limit x max fee
fixed in the plan, less what the address already holds); then the transfers the offline
signer signed with the deposit keys are broadcast. It costs a 21,000-gas top-up per address
on top of the transfer, and leaves unused gas as ETH dust on every address.
"""

from __future__ import annotations

from dataclasses import dataclass

from xbtcpay.chain.client import NodeError
from xbtcpay.chain.devchain import send_transaction, wait_receipt
from xbtcpay.sweep.errors import SweepRefused
from xbtcpay.sweep.plan import SignedPlan
from xbtcpay.sweep.records import CONFIRMED
from xbtcpay.sweep.send import Pending, Sender, log
from xbtcpay.sweep.verify import Checked, Ready, check_signed

TOPUP_GAS = 21_000


@dataclass(frozen=True)
class StationEstimate:
    topups: tuple[tuple[str, int], ...]  # (address, wei)
    transfer_gas: int  # gas limit of each signed transfer
    max_fee: int
    gas_wallet: str
    gas_wallet_balance: int

    @property
    def max_cost(self) -> int:
        """Worst case paid by the gas wallet: the top-ups and their own gas."""
        return sum(w for _, w in self.topups) + TOPUP_GAS * len(self.topups) * self.max_fee


class StationSender(Sender):
    """Top up, then broadcast the signed transfers; confirmed like any sweep."""

    async def estimate_station(
        self, signed: SignedPlan, now: int
    ) -> tuple[Checked, StationEstimate]:
        checked = await check_signed(self.config, self.store, self.client, signed, now)
        station = signed.plan.gas_station
        need = station["gas"] * station["max_fee"]
        topups = tuple(
            (r.entry.address, need - r.state.eth) for r in checked.ready if r.state.eth < need
        )
        balance = (await self.client.eth_balances([self.wallet.address], "latest"))[
            self.wallet.address
        ]
        return checked, StationEstimate(
            topups, station["gas"], station["max_fee"], self.wallet.address, balance
        )

    async def send_station(
        self, signed: SignedPlan, now: int
    ) -> tuple[Checked, StationEstimate, list[Pending]]:
        checked, estimate = await self.estimate_station(signed, now)
        if estimate.max_cost > estimate.gas_wallet_balance:
            raise SweepRefused(
                f"the gas wallet {self.wallet.address} holds {estimate.gas_wallet_balance} wei; "
                f"{len(estimate.topups)} top-ups may cost up to {estimate.max_cost} wei"
            )
        for address, wei in estimate.topups:
            await self._topup(signed, address, wei)
        return checked, estimate, [await self._transfer(signed, r) for r in checked.ready]

    async def _topup(self, signed: SignedPlan, address: str, wei: int) -> None:
        tx_hash = await send_transaction(
            self.client, self.wallet, to=address, value=wei, gas=TOPUP_GAS
        )
        receipt = await wait_receipt(self.client, tx_hash, timeout=self.timeout)
        sent = await self.client.call("eth_getTransactionByHash", [tx_hash])
        sweep_id = await self.store.record_sent(
            tx_hash=tx_hash,
            chain_id=signed.plan.chain_id,
            asset=signed.plan.asset,
            kind="gas-topup",
            treasury=signed.plan.treasury,
            sender=self.wallet.address,
            nonce=int(sent["nonce"], 16),
            gas_limit=TOPUP_GAS,
            raw_tx="",
            entries=[],
        )
        gas = int(receipt["gasUsed"], 16)
        await self.store.record_status(
            sweep_id,
            CONFIRMED,
            block_number=int(receipt["blockNumber"], 16),
            block_hash=str(receipt["blockHash"]).lower(),
            gas_used=gas,
            fee_wei=gas * int(receipt.get("effectiveGasPrice", "0x0"), 16),
            detail=address,
        )

    async def _transfer(self, signed: SignedPlan, ready: Ready) -> Pending:
        assert ready.transfer is not None
        plan = signed.plan
        tx_hash = "0x" + _hash(ready.transfer)
        sweep_id = await self.store.record_sent(
            tx_hash=tx_hash,
            chain_id=plan.chain_id,
            asset=plan.asset,
            kind=plan.kind,
            treasury=plan.treasury,
            sender=ready.entry.address,
            nonce=ready.entry.nonce,
            gas_limit=plan.gas_station["gas"],
            raw_tx=ready.transfer,
            entries=[ready.entry],
        )
        pending = Pending(sweep_id, tx_hash, ready.transfer, [ready])
        try:
            await self.client.call("eth_sendRawTransaction", [ready.transfer])
        except NodeError as exc:
            raise SweepRefused(
                f"the node refused the transfer of {ready.entry.address}: {exc}"
            ) from None
        log.info("sweep.sent", tx_hash=tx_hash, addresses=1, kind=plan.kind)
        return pending

    @property
    def timeout(self) -> float:
        return 60.0


def _hash(raw: str) -> str:
    from eth_utils.crypto import keccak

    return bytes(keccak(bytes.fromhex(raw[2:]))).hex()

"""The payout tracker (a leader job): broadcasts recorded payouts, follows them to their
confirmations and confirms the refund, reorg-aware as deposits are.

A payout mined and then taken away by a reorg is recorded as reorged and its same signed
bytes are broadcast again (one nonce: it can be mined once). A refund is confirmed by one
compare-and-set inside the payment's own transition (dedupe key ``refund:<id>``), so it is
counted once however often the tracker sees it.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import structlog
from prometheus_client import Counter

from xbtcpay.chain.client import ChainClient, NodeError
from xbtcpay.chain.watcher import http_urls
from xbtcpay.core.amounts import from_base_units, to_base_units
from xbtcpay.core.errors import ChainError
from xbtcpay.core.models import Payment, PaymentEvent
from xbtcpay.core.persistence import Engine, UnitOfWork
from xbtcpay.core.processor import PaymentProcessor
from xbtcpay.core.state import Event
from xbtcpay.refunds.external import find_payout
from xbtcpay.refunds.settings import RefundInputs
from xbtcpay.storage.refunds import APPROVED, SENT, Refund, RefundStore

log = structlog.get_logger("xbtcpay.refunds")
FINALIZED_DEPTH = 64  # blocks, when the chain's confirmations are "finalized"/"safe"


class PayoutTracker:
    def __init__(
        self,
        config: RefundInputs,
        db: Engine,
        processor: PaymentProcessor,
        steps: Counter,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.store = RefundStore(db)
        self.processor = processor
        self.steps = steps
        self.clock = clock

    def _client(self, refund: Refund) -> ChainClient:
        chain = self.config.chain_of(refund.asset)
        assert chain is not None
        return ChainClient(http_urls(chain.rpc_urls), timeout=chain.request_timeout)

    async def run(self) -> None:
        """One round over every approved and sent refund (the job)."""
        for refund in await self.store.in_flight():
            try:
                if refund.status == APPROVED and refund.raw_tx is not None:
                    await self.broadcast(refund)
                elif refund.status == APPROVED and refund.payout_method == "external":
                    async with self._client(refund) as client:
                        await self._look_for(client, refund)
                elif refund.status == SENT:
                    async with self._client(refund) as client:
                        await self._follow(client, refund)
            except ChainError as exc:
                log.warning("refund.track_failed", refund_id=refund.id, error=str(exc))

    async def broadcast(self, refund: Refund) -> Refund:
        """Send a recorded payout; approved -> sent once the node has it. A node that does
        not answer leaves it approved (the next round sends it)."""
        assert refund.raw_tx is not None and refund.tx_hash is not None
        try:
            async with self._client(refund) as client:
                refused = await self._send(client, refund.raw_tx, refund.tx_hash)
            if refused is not None:
                await self._fail(refund, f"the node refused the payout: {refused}")
                return await self._reload(refund)
        except ChainError as exc:
            log.warning("refund.broadcast_deferred", refund_id=refund.id, error=str(exc))
            return refund
        if await self.store.sent(refund, refund.tx_hash, int(self.clock())):
            self.steps.labels("sent").inc()
            log.info("refund.sent", refund_id=refund.id, tx_hash=refund.tx_hash)
        return await self._reload(refund)

    @staticmethod
    async def _send(client: ChainClient, raw_tx: str, tx_hash: str) -> str | None:
        """Broadcast unless the node already has it; the node's refusal, or None. A refusal
        of a transaction the node does know (sent meanwhile by another round, or already
        mined) is no refusal."""
        if await client.call("eth_getTransactionByHash", [tx_hash]) is not None:
            return None
        try:
            await client.call("eth_sendRawTransaction", [raw_tx])
        except NodeError as exc:
            if await client.call("eth_getTransactionByHash", [tx_hash]) is None:
                return str(exc)
        return None

    async def _look_for(self, client: ChainClient, refund: Refund) -> None:
        """An external payout: the merchant's transfer, once it is on the chain."""
        payouts = self.config.payouts
        if payouts is None or payouts.from_address is None or refund.watch_from is None:
            return
        spec = self.config.assets[refund.asset]
        head = await client.block_number()
        found = await find_payout(client, refund, spec, payouts.from_address, head)
        now = int(self.clock())
        for tx_hash in found.tx_hashes:
            if not await self.store.has_tx(refund.chain, tx_hash):
                if await self.store.sent(refund, tx_hash, now):
                    self.steps.labels("sent").inc()
                    log.info("refund.payout_found", refund_id=refund.id, tx_hash=tx_hash)
                return
        await self.store.scanned(refund, found.next_block, now)

    async def _reload(self, refund: Refund) -> Refund:
        return await self.store.get(refund.id) or refund

    async def _fail(self, refund: Refund, detail: str) -> None:
        if await self.store.fail(refund, detail, int(self.clock())):
            self.steps.labels("failed").inc()
            log.error("refund.failed", refund_id=refund.id, detail=detail)

    async def _follow(self, client: ChainClient, refund: Refund) -> None:
        receipt = await client.call("eth_getTransactionReceipt", [refund.tx_hash])
        now = int(self.clock())
        if receipt is None:
            if refund.block_hash is not None:
                await self.store.seen_in(refund, None, None, now)
                self.steps.labels("reorged").inc()
                log.warning("refund.reorged", refund_id=refund.id, tx_hash=refund.tx_hash)
            if refund.raw_tx is not None:
                # the same signed bytes (one nonce: mined at most once), every round until
                # mined: a node may still "know" a transaction a reorg dropped from its pool
                try:
                    await client.call("eth_sendRawTransaction", [refund.raw_tx])
                    log.info("refund.resent", refund_id=refund.id, tx_hash=refund.tx_hash)
                except NodeError as exc:
                    log.debug("refund.resend_refused", refund_id=refund.id, error=str(exc))
            return
        number, block_hash = int(receipt["blockNumber"], 16), str(receipt["blockHash"]).lower()
        if receipt.get("status") != "0x1":
            await self._fail(refund, f"tx {refund.tx_hash} reverted in block {number}")
            return
        if (number, block_hash) != (refund.block_number, refund.block_hash):
            await self.store.seen_in(refund, number, block_hash, now)
        if await client.block_number() - number + 1 < self._needed(refund.asset):
            return
        block = await client.get_block(number)
        if block is None or str(block["hash"]).lower() != block_hash:
            return  # reorged between the two reads: look again next round
        fee = None
        if refund.payout_method == "wallet":
            fee = int(receipt["gasUsed"], 16) * int(receipt.get("effectiveGasPrice", "0x0"), 16)
        await self.confirm(refund, fee)

    def _needed(self, asset: str) -> int:
        wanted = self.config.confirmations_for(asset)
        return wanted if isinstance(wanted, int) else FINALIZED_DEPTH

    async def confirm(self, refund: Refund, fee_wei: int | None = None) -> None:
        """Sent -> confirmed; a refund of the payment's own asset moves the payment to
        refunded or partially_refunded in the same unit of work (postback, credit note and
        balance debit follow from that transition)."""
        now = int(self.clock())
        payment = await self.processor.get(refund.payment_id)
        changed = False
        if not refund.stray:
            event = await self._event(refund, payment)

            async def also(uow: UnitOfWork, _: Payment) -> None:
                await self.store.confirm_in(uow, refund.id, now, fee_wei)

            result = await self.processor.apply(payment.id, event, also=also)
            changed = result.changed
        if not changed:  # a stray, or a payment whose state takes no refund event
            changed = await self.store.confirm(refund.id, now, fee_wei)
        if changed:
            self.steps.labels("confirmed").inc()
            log.info(
                "refund.confirmed",
                refund_id=refund.id,
                payment_id=refund.payment_id,
                tx_hash=refund.tx_hash,
                amount=refund.amount,
            )

    async def _event(self, refund: Refund, payment: Payment) -> PaymentEvent:
        decimals = self.config.assets[refund.asset].decimals
        total = await self.store.confirmed_units(refund.payment_id, refund.asset) + refund.units
        full = total >= to_base_units(payment.amount_received, decimals)
        return PaymentEvent(
            Event.REFUNDED if full else Event.PARTIALLY_REFUNDED,
            dedupe_key=f"refund:{refund.id}",
            amount_refunded=from_base_units(total, decimals),
            reason=refund.reason,
            source="refunds",
        )

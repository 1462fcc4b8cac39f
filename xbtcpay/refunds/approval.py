"""``refund.approve``: checks the payout limits and the customer's balance, then hands the
refund to the configured payout method.

``payouts.method: wallet`` signs the transfer with the payout hot wallet and records the
signed bytes in the approval's own unit of work, before it is broadcast: a crash after the
commit re-sends those same bytes (one nonce, one transaction), never a second transfer.
Two approvals of one refund race on a compare-and-set: one wins, the other is refused.
``payouts.method: external`` leaves the signing to the merchant: the refund shows the
transfer as an EIP-681 URI and an unsigned transaction, and the tracker recognises it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

import structlog
from prometheus_client import Counter

from xbtcpay.chain.client import ChainClient
from xbtcpay.chain.watcher import http_urls
from xbtcpay.commerce.purchases import ledger
from xbtcpay.core.amounts import format_amount, from_base_units, to_base_units
from xbtcpay.core.errors import ChainError, InvalidParams, NotFound, ProviderError
from xbtcpay.core.persistence import Engine, UnitOfWork
from xbtcpay.plugin_api import CallContext
from xbtcpay.refunds.payout import PayoutRefused, prepare, wallet_account
from xbtcpay.refunds.settings import PayoutsConfig, RefundInputs
from xbtcpay.refunds.tracker import PayoutTracker
from xbtcpay.refunds.views import external_payout, refund_json
from xbtcpay.storage.payments import PaymentStore
from xbtcpay.storage.refunds import PayoutWallet, Refund, RefundRefused, RefundStore

log = structlog.get_logger("xbtcpay.refunds")


class Approval:
    def __init__(
        self,
        config: RefundInputs,
        db: Engine,
        tracker: PayoutTracker,
        steps: Counter,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.db = db
        self.store = RefundStore(db)
        self.payments = PaymentStore(db)
        self.tracker = tracker
        self.steps = steps
        self.clock = clock

    async def approve(self, params: Mapping[str, Any], call: CallContext) -> dict[str, Any]:
        """``{refund}`` -> the approved refund; a wallet payout is broadcast at once."""
        unknown = set(params) - {"refund"}
        if unknown:
            raise InvalidParams(f"unknown parameter {min(unknown)!r}")
        refund_id = params.get("refund")
        if not isinstance(refund_id, str) or not refund_id:
            raise InvalidParams("refund: expected a refund id")
        refund = await self.store.get(refund_id)
        if refund is None:
            raise NotFound("refund not found")
        payouts = self.config.payouts
        if payouts is None:
            raise InvalidParams("refunds cannot be paid out: the payouts: section is not set")
        await self._balance_covers(refund)
        if payouts.method == "wallet":
            approved = await self._wallet(refund, payouts)
        else:
            approved = await self._approve(
                refund, "external", None, None, await self._head(refund.asset)
            )
        self.steps.labels("approved").inc()
        log.info(
            "refund.approved",
            refund_id=approved.id,
            payment_id=approved.payment_id,
            method=approved.payout_method,
            tx_hash=approved.tx_hash,
        )
        if approved.payout_method == "wallet":
            approved = await self.tracker.broadcast(approved)
        out = refund_json(approved)
        if approved.payout_method == "external":
            chain = self.config.chain_of(approved.asset)
            assert chain is not None
            spec = self.config.assets[approved.asset]
            out["payout"] = external_payout(approved, spec, payouts, chain.chain_id)
        return out

    async def _wallet(self, refund: Refund, payouts: PayoutsConfig) -> Refund:
        spec = self.config.assets[refund.asset]
        cap, day = payouts.max_per_refund.get(refund.asset), payouts.daily_limit.get(refund.asset)
        if cap is None or day is None:
            raise InvalidParams(
                f"payouts.max_per_refund and payouts.daily_limit set no limit for {refund.asset}:"
                " the payout wallet does not send it"
            )
        if from_base_units(refund.units, spec.decimals) > cap:
            raise InvalidParams(
                f"the refund ({refund.amount} {refund.asset}) is over payouts.max_per_refund"
                f" ({format_amount(cap)} {refund.asset}); pay it from the treasury"
            )
        if refund.address is None:
            raise InvalidParams("refund: the customer has not entered an address yet")
        assert payouts.wallet_key is not None
        chain = self.config.chain_of(refund.asset)
        assert chain is not None
        account = wallet_account(payouts.wallet_key.reveal())
        try:
            async with ChainClient(
                http_urls(chain.rpc_urls), timeout=chain.request_timeout
            ) as client:
                wallet = await prepare(client, account, spec, refund, chain.chain_id)
        except PayoutRefused as exc:
            raise ProviderError(str(exc)) from None
        except ChainError as exc:
            raise ProviderError(f"the Ethereum node did not answer: {exc}") from None
        return await self._approve(refund, "wallet", _units(day, spec.decimals), wallet)

    async def _head(self, asset: str) -> int:
        """The chain's next block: an external payout is looked for from there on."""
        chain = self.config.chain_of(asset)
        assert chain is not None
        try:
            async with ChainClient(
                http_urls(chain.rpc_urls), timeout=chain.request_timeout
            ) as client:
                return await client.block_number() + 1
        except ChainError as exc:
            raise ProviderError(f"the Ethereum node did not answer: {exc}") from None

    async def _approve(
        self,
        refund: Refund,
        method: str,
        day_cap: int | None,
        wallet: PayoutWallet | None,
        watch_from: int | None = None,
    ) -> Refund:
        now = int(self.clock())
        try:
            return await self.store.approve(refund.id, now, method, day_cap, wallet, watch_from)
        except RefundRefused as exc:
            message = str(exc)
            if message.startswith("daily:"):
                spec = self.config.assets[refund.asset]
                left = format_amount(from_base_units(int(message[6:]), spec.decimals))
                message = (
                    f"over payouts.daily_limit for {refund.asset}: {left} {refund.asset} can"
                    " still be paid out in the next 24 hours"
                )
            raise InvalidParams(message) from None

    async def _balance_covers(self, refund: Refund) -> None:
        """A refunded top-up takes its amount back off the customer's balance: refused when
        the balance no longer covers it, unless the refund was created with ``force``."""
        if refund.stray or refund.force_debit:
            return
        payment = await self.payments.get(refund.payment_id)
        if payment is None or payment.customer is None:
            return

        async def credited(uow: UnitOfWork) -> int:
            return await ledger.sum_for_payment(uow, refund.payment_id, ledger.Kind.TOP_UP)

        if await self.db.transact(credited) <= 0:
            return
        balance = (await ledger.LedgerReader(self.db).balances(payment.customer)).get(
            refund.asset, 0
        )
        if balance < refund.units:
            spec = self.config.assets[refund.asset]
            has = format_amount(from_base_units(balance, spec.decimals))
            raise InvalidParams(
                f"the customer's {refund.asset} balance ({has}) no longer covers this top-up"
                " refund; create it with force: true to debit the balance below zero"
            )


def _units(amount: Decimal, decimals: int) -> int:
    return to_base_units(amount.quantize(Decimal(1).scaleb(-decimals)), decimals)

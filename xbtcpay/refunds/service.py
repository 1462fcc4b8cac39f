"""``refund.create``, ``refund.get``, ``refund.list`` and ``refund.cancel`` on the private port.

A refund gives back part or all of what a crypto payment received (its own asset), or a
stray deposit of another asset to its address. What can be given back is what was received
minus every refund that is not canceled or failed; the check and the insert are one unit
of work that locks the payment, so refunds asked for at the same time never add up to more.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable, Mapping
from decimal import ROUND_DOWN, Decimal, localcontext
from typing import Any

import structlog
from prometheus_client import Counter

from xbtcpay.core.amounts import format_amount, from_base_units, parse_amount, to_base_units
from xbtcpay.core.errors import InvalidParams, NotFound, ProviderError
from xbtcpay.core.models import CRYPTO, Payment
from xbtcpay.core.persistence import Engine
from xbtcpay.core.registry import MethodRegistry
from xbtcpay.core.settings import AssetConfig
from xbtcpay.core.state import State
from xbtcpay.plugin_api import CallContext
from xbtcpay.rates.book import RateBook
from xbtcpay.rates.observation import NoReliableRate
from xbtcpay.rates.settings import Pair
from xbtcpay.refunds.locked_rate import locked_rate
from xbtcpay.refunds.request import RefundRequest, parse_create
from xbtcpay.refunds.settings import RefundInputs
from xbtcpay.refunds.views import refund_json
from xbtcpay.storage.chain_store import ChainStore
from xbtcpay.storage.payments import PaymentStore
from xbtcpay.storage.refunds import APPROVED, REQUESTED, Refund, RefundStore

log = structlog.get_logger("xbtcpay.refunds")
# A payment's own funds can be given back once they are confirmed and counted.
REFUNDABLE = frozenset(
    {State.PAID, State.PARTIALLY_REFUNDED, State.REFUNDED, State.EXPIRED, State.CANCELED}
)
MAX_LIST = 500


def claim_hash(token: str) -> str:
    """The stored form of a claim link's token (the token itself is never stored)."""
    return hashlib.sha256(token.encode()).hexdigest()


class RefundService:
    def __init__(
        self,
        config: RefundInputs,
        claim_base: str,
        db: Engine,
        rates: RateBook | None,
        steps: Counter,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.claim_base = claim_base.rstrip("/")
        self.payments = PaymentStore(db)
        self.deposits = ChainStore(db)
        self.store = RefundStore(db)
        self.rates = rates
        self.steps = steps
        self.clock = clock

    def register(self, registry: MethodRegistry) -> None:
        registry.add("refund.create", self.create)
        registry.add("refund.get", self.get)
        registry.add("refund.list", self.list_refunds)
        registry.add("refund.cancel", self.cancel)

    async def create(self, params: Mapping[str, Any], call: CallContext) -> dict[str, Any]:
        """``{payment, amount? | fiat_amount?, currency?, rate?, asset?, address?, reason,
        force?}`` -> the refund, with ``claim_url`` when no address was given."""
        request = parse_create(params)
        payment = await self.payments.get(request.payment)
        if payment is None:
            raise NotFound("payment not found")
        if payment.method != CRYPTO:
            raise InvalidParams(
                "refund.create gives back crypto payments; a card or provider payment is"
                " refunded through its provider (receipt.refund)"
            )
        asset = request.asset or payment.asset
        spec = self.config.assets.get(asset)
        chain = self.config.chain_of(asset)
        if spec is None or chain is None:
            raise InvalidParams(f"asset: unknown asset {asset!r}")
        stray = asset != payment.asset
        received = await self._received(payment, spec, stray)
        units, fiat = await self._units(request, payment, spec)
        now = int(self.clock())
        token = None if request.address else secrets.token_urlsafe(32)
        refund = Refund(
            id="rf_" + secrets.token_urlsafe(18),
            payment_id=payment.id,
            chain=chain.key,
            asset=asset,
            units=units,
            amount=format_amount(from_base_units(units, spec.decimals)),
            reason=request.reason,
            status=REQUESTED,
            created_at=now,
            updated_at=now,
            fiat_amount=None if fiat is None else format(request.fiat_amount, "f"),
            currency=None if fiat is None else fiat[0],
            rate=None if fiat is None else format(fiat[1].normalize(), "f"),
            rate_kind=None if fiat is None else request.rate,
            stray=stray,
            address=request.address,
            claim_hash=None if token is None else claim_hash(token),
            claim_expires_at=None if token is None else now + self.config.refunds.claim_ttl,
            force_debit=request.force,
        )
        left = await self.store.create(refund, received)
        if left is not None:
            most = format_amount(from_base_units(left, spec.decimals))
            raise InvalidParams(
                f"amount: more than can still be refunded ({most} {asset}: received minus"
                " refunds already made or under way)"
            )
        self.steps.labels("requested").inc()
        log.info(
            "refund.requested",
            refund_id=refund.id,
            payment_id=payment.id,
            asset=asset,
            amount=refund.amount,
            stray=stray,
            claim_link=token is not None,
        )
        out = refund_json(refund)
        if token is not None:
            out["claim_url"] = f"{self.claim_base}/refund/{token}"
        return out

    async def _received(self, payment: Payment, spec: AssetConfig, stray: bool) -> int:
        """Units of the asset the payment's address received that a refund may give back."""
        if stray:
            units = sum(
                d.units for d in await self.deposits.strays_of(payment.id) if d.asset == spec.name
            )
            if units == 0:
                raise InvalidParams(f"asset: no {spec.name} was sent to this payment's address")
            return units
        if payment.status not in REFUNDABLE or payment.amount_received <= 0:
            raise InvalidParams(
                f"the payment has no confirmed funds to refund (it is {payment.status.value})"
            )
        return to_base_units(payment.amount_received, spec.decimals)

    async def _units(
        self, request: RefundRequest, payment: Payment, spec: AssetConfig
    ) -> tuple[int, tuple[str, Decimal] | None]:
        """The refund in base units, and (currency, rate) when it was given in fiat."""
        if request.fiat_amount is None:
            amount = parse_amount(request.amount, decimals=spec.decimals, max_amount=None)
            if amount is None:
                raise InvalidParams(
                    f"amount: expected a positive decimal string with at most {spec.decimals}"
                    " decimals"
                )
            return to_base_units(amount, spec.decimals), None
        currency, rate = await self._rate(request, payment, spec)
        with localcontext() as ctx:
            ctx.prec = 80  # exact enough for any amount of any asset before rounding down
            units = int((request.fiat_amount / rate).scaleb(spec.decimals).to_integral(ROUND_DOWN))
        if units <= 0:
            raise InvalidParams("fiat_amount: worth less than one base unit of the asset")
        return units, (currency, rate)

    async def _rate(
        self, request: RefundRequest, payment: Payment, spec: AssetConfig
    ) -> tuple[str, Decimal]:
        if request.rate == "original":
            locked = locked_rate(payment)
            if locked is None or payment.asset != spec.name:
                raise InvalidParams(
                    "rate: the payment was not priced at a locked rate; refund a crypto"
                    " amount, or a fiat_amount with rate: current"
                )
            if request.currency not in (None, locked.currency):
                raise InvalidParams(f"currency: the payment was priced in {locked.currency}")
            return locked.currency, locked.value
        if request.currency is None:
            raise InvalidParams("currency: required with fiat_amount and rate: current")
        if self.rates is None:
            raise InvalidParams("rate: current needs exchange rates (the rates: section)")
        try:
            rate = await self.rates.rate(Pair(spec.name, request.currency))
        except NoReliableRate as exc:
            raise ProviderError(f"no reliable {spec.name}/{request.currency} rate: {exc}") from None
        return request.currency, rate.value

    async def get(self, params: Mapping[str, Any], call: CallContext) -> dict[str, Any]:
        """``{refund}`` -> the refund with its history."""
        refund = await self._refund(params, {"refund"})
        out = refund_json(refund)
        out["events"] = [
            {"status": e.status, "detail": e.detail, "at": e.at}
            for e in await self.store.events(refund.id)
        ]
        return out

    async def list_refunds(self, params: Mapping[str, Any], call: CallContext) -> dict[str, Any]:
        """``{payment?, status?, limit?, before?}`` -> refunds, newest first."""
        unknown = set(params) - {"payment", "status", "limit", "before"}
        if unknown:
            raise InvalidParams(f"unknown parameter {min(unknown)!r}")
        payment = _optional_text(params, "payment")
        before = _optional_text(params, "before")
        status = _optional_text(params, "status")
        limit = params.get("limit", 100)
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIST:
            raise InvalidParams(f"limit: expected an integer from 1 to {MAX_LIST}")
        refunds = await self.store.recent(payment, [status] if status else [], limit, before)
        return {"refunds": [refund_json(r) for r in refunds]}

    async def cancel(self, params: Mapping[str, Any], call: CallContext) -> dict[str, Any]:
        """``{refund, reason?}``: only before it is sent; the amount can be refunded again."""
        refund = await self._refund(params, {"refund", "reason"})
        reason = params.get("reason", "canceled by the shop")
        if not isinstance(reason, str) or not reason.strip() or len(reason) > 500:
            raise InvalidParams("reason: expected a text of 1 to 500 characters")
        now = int(self.clock())
        if not await self.store.cancel(refund.id, reason, now):
            current = await self.store.get(refund.id) or refund
            if current.status == APPROVED:
                raise InvalidParams(
                    "refund is approved and its payout transaction is signed: it may already"
                    " be on its way, so it cannot be canceled"
                )
            raise InvalidParams(
                f"refund is {current.status}: only a refund not yet sent can be canceled"
            )
        self.steps.labels("canceled").inc()
        log.info("refund.canceled", refund_id=refund.id, payment_id=refund.payment_id)
        canceled = await self.store.get(refund.id)
        assert canceled is not None
        return refund_json(canceled)

    async def _refund(self, params: Mapping[str, Any], known: set[str]) -> Refund:
        unknown = set(params) - known
        if unknown:
            raise InvalidParams(f"unknown parameter {min(unknown)!r}")
        refund_id = params.get("refund")
        if not isinstance(refund_id, str) or not refund_id:
            raise InvalidParams("refund: expected a refund id")
        refund = await self.store.get(refund_id)
        if refund is None:
            raise NotFound("refund not found")
        return refund


def _optional_text(params: Mapping[str, Any], name: str) -> str | None:
    value = params.get(name)
    if value is not None and (not isinstance(value, str) or not value):
        raise InvalidParams(f"{name}: expected a string")
    return value

"""The claim link: the customer of a refund without an address enters one.

The link's token (256 random bits) is stored only as its SHA-256 hash. An address can be
entered once, before the link expires (``refunds.claim_ttl``) and while the refund is still
requested; afterwards the same link shows the refund's progress.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import structlog
from prometheus_client import Counter

from xbtcpay.core.persistence import Engine
from xbtcpay.refunds.address import BadAddress, checked_address
from xbtcpay.refunds.service import claim_hash
from xbtcpay.refunds.settings import RefundInputs
from xbtcpay.storage.refunds import Refund, RefundStore

log = structlog.get_logger("xbtcpay.refunds")
TOKEN_LENGTHS = range(40, 50)  # token_urlsafe(32) is 43 characters


@dataclass(frozen=True)
class ClaimView:
    """What the claim page shows."""

    refund: Refund
    network: str  # the chain's display name, where the address must be
    symbol: str  # the asset's symbol as the checkout page shows it
    claimable: bool
    expired: bool


class RefundClaims:
    def __init__(
        self,
        config: RefundInputs,
        db: Engine,
        steps: Counter,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.store = RefundStore(db)
        self.steps = steps
        self.clock = clock

    async def view(self, token: str) -> ClaimView | None:
        """The refund behind a link, or None for a token that is no link."""
        if len(token) not in TOKEN_LENGTHS:
            return None
        refund = await self.store.by_claim(claim_hash(token))
        return None if refund is None else self._view(refund)

    def _view(self, refund: Refund) -> ClaimView:
        now = int(self.clock())
        chain = self.config.chain_of(refund.asset)
        network = chain.name if chain is not None else refund.chain
        expired = refund.address is None and (refund.claim_expires_at or 0) <= now
        spec = self.config.assets.get(refund.asset)
        symbol = spec.symbol if spec is not None and spec.symbol else refund.asset
        return ClaimView(refund, network, symbol, refund.claimable(now), expired)

    async def claim(self, token: str, text: str) -> tuple[ClaimView | None, str | None]:
        """Enter ``text`` as the refund's address: (the refund's view, None) once taken, or
        (its view, why not) when refused; (None, ...) for an unknown link."""
        view = await self.view(token)
        if view is None:
            return None, "unknown link"
        if not view.claimable:
            return view, "this link no longer takes an address"
        try:
            address = checked_address(text, require_checksum=True)
        except BadAddress as exc:
            return view, str(exc)
        claimed = await self.store.claim(claim_hash(token), address, int(self.clock()))
        if claimed is None:
            return await self.view(token), "this link no longer takes an address"
        self.steps.labels("claimed").inc()
        log.info("refund.claimed", refund_id=claimed.id, payment_id=claimed.payment_id)
        return self._view(claimed), None

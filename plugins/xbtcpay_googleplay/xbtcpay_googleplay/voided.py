"""Polling ``voidedpurchases.list``: refunds and chargebacks Google reports after the fact.

Notifications can be lost (a topic not configured, a push that failed for days), so the
plugin also reads the voided purchases of the last ``voided_lookback_days`` on a timer.
Each void refunds its payment once (the same dedupe key as the voided notification).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import structlog

from xbtcpay_googleplay.notifications import refund_void
from xbtcpay_googleplay.verification import Verifier

log = structlog.get_logger("xbtcpay.plugins.googleplay")
DAY_MS = 86_400_000
MAX_PAGES = 50
VOIDED_REASONS = {
    0: "other",
    1: "remorse",
    2: "not_received",
    3: "defective",
    4: "accidental_purchase",
    5: "fraud",
    6: "friendly_fraud",
    7: "chargeback",
}


class VoidedPoll:
    """One run of the poll: every voided purchase in the window, refunded once."""

    def __init__(
        self, verifier: Verifier, lookback_days: int, clock: Callable[[], float] = time.time
    ) -> None:
        self.verifier = verifier
        self.lookback_ms = lookback_days * DAY_MS
        self.clock = clock

    async def __call__(self) -> None:
        start = int(self.clock() * 1000) - self.lookback_ms
        page: str | None = None
        refunded = 0
        for _ in range(MAX_PAGES):
            answer = await self.verifier.api.voided(start, page)
            for item in answer.get("voidedPurchases") or []:
                refunded += await self._refund(item)
            page = (answer.get("tokenPagination") or {}).get("nextPageToken")
            if not page:
                break
        log.info("googleplay.voided_polled", refunded=refunded)

    async def _refund(self, item: object) -> int:
        if not isinstance(item, dict) or not isinstance(item.get("purchaseToken"), str):
            return 0
        order, token = item.get("orderId"), item["purchaseToken"]
        for ref in (order, token):
            if isinstance(ref, str) and await self.verifier.ledger.ctx.find_payment(ref):
                reason = VOIDED_REASONS.get(item.get("voidedReason", 0), "other")
                return int(
                    await refund_void(self.verifier, ref, item.get("refundType") == 2, reason)
                )
        return 0

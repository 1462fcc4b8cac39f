"""The overview: volumes per asset (and in fiat), the chart, open payments, failed
postbacks, and the health of every chain."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from aiohttp import web

from xbtcpay.core.errors import RpcError
from xbtcpay.core.state import OPEN_STATES
from xbtcpay.web.admin.chart import daily_bars
from xbtcpay.web.admin.guard import PREFIX
from xbtcpay.web.admin.pages import Pages


class Overview(Pages):
    """The first page after login, for every role."""

    async def overview(self, request: web.Request) -> web.Response:
        self._who(request)
        now = self.p.clock()
        today = datetime.fromtimestamp(now, UTC)
        midnight = int(today.replace(hour=0, minute=0, second=0, microsecond=0).timestamp())
        paid = await self.p.payments.paid_since(midnight - 29 * 86400)
        periods = (
            ("today", midnight),
            ("7d", midnight - 6 * 86400),
            ("30d", midnight - 29 * 86400),
        )
        volumes: dict[str, dict[str, list[Any]]] = {}
        for asset, amount, at in paid:
            row = volumes.setdefault(asset, {name: [0, Decimal(0)] for name, _ in periods})
            for name, since in periods:
                if at >= since:
                    row[name][0] += 1
                    row[name][1] += amount
        fiat = await self._fiat_volumes(request, volumes)
        counts = await self.p.payments.count_by_status()
        open_states = sorted(s.value for s in OPEN_STATES)
        open_payments = []
        for state in open_states:
            open_payments += await self.p.payments.search(status=state, limit=10)
        open_payments.sort(key=lambda p: p.created_at, reverse=True)
        failed = await self.p.postbacks.search(status="failed", limit=10)
        return self.render(
            request,
            "overview.html",
            volumes=dict(sorted(volumes.items())),
            periods=[name for name, _ in periods],
            fiat=fiat,
            currency=self.p.currency,
            chart=daily_bars((at for _, _, at in paid), today),
            open_count=sum(counts.get(s, 0) for s in open_states),
            open_payments=open_payments[:10],
            failed=failed,
            failed_count=(await self.p.postbacks.stats()).get("failed", 0),
            health=self._health(now),
            funds_available="funds.summary" in self.p.registry.names(),
            live=f"{PREFIX}/events",
        )

    async def _fiat_volumes(
        self, request: web.Request, volumes: Mapping[str, Mapping[str, list[Any]]]
    ) -> dict[str, Any] | None:
        """Each asset's volumes in the dashboard's currency at the current rate, and their
        totals; None when no rate sources are configured. An asset without a reliable rate
        is left out of the totals and shown as such."""
        if "rates.get" not in self.p.registry.names():
            return None
        currency = self.p.currency
        cents = Decimal("0.01")
        values: dict[str, dict[str, Decimal] | None] = {}
        totals: dict[str, Decimal] = {}
        for asset, row in volumes.items():
            rate = await self._rate(request, asset, currency)
            if rate is None:
                values[asset] = None
                continue
            fiat = {name: (cell[1] * rate).quantize(cents) for name, cell in row.items()}
            values[asset] = fiat
            for name, value in fiat.items():
                totals[name] = totals.get(name, Decimal(0)) + value
        return {"values": values, "totals": totals}

    async def _rate(self, request: web.Request, asset: str, currency: str) -> Decimal | None:
        if asset.upper() == currency:
            return Decimal(1)
        try:
            answer = await self.p.registry.call(
                "rates.get", {"asset": asset, "currency": currency}, self._ctx(request)
            )
        except RpcError:
            return None  # no reliable rate (refused, stale, spread) or not a priced asset
        return Decimal(str(answer["rate"]))

    def _health(self, now: float) -> dict[str, Any]:
        """The verdict over every configured chain, and each chain's own line."""
        lead = self.p.leadership
        chains = []
        for key, head in sorted(self.p.head.chains.items()):
            age = None if head.at is None else round(now - head.at, 1)
            fresh = age is not None and age <= 60 and not head.stale
            chains.append(
                {
                    "key": key,
                    "head": head.number,
                    "age": age,
                    "stale": head.stale,
                    "ok": head.watched is False or fresh or not lead.is_leader,
                }
            )
        main = chains[0] if len(chains) == 1 else None
        return {
            "head": main["head"] if main else None,
            "age": main["age"] if main else None,
            "chains": chains if len(chains) > 1 else [],
            "watcher": self.p.head.watched,
            "ok": all(c["ok"] for c in chains),
            "replica": lead.replica_id,
            "leader": lead.leader_id,
        }

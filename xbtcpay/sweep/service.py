"""Funds in the running daemon: the private method ``funds.summary`` and the /metrics gauges.

Gauges are refreshed by a job every ``METRICS_INTERVAL`` seconds when ``sweep:`` is
configured, and by every ``funds.summary`` call. Gauge values are floats (Prometheus); the
method answers exact decimal strings.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import structlog
from prometheus_client import CollectorRegistry, Gauge

from xbtcpay.chain.client import ChainClient
from xbtcpay.chain.watcher import http_urls
from xbtcpay.core.errors import ChainError, InvalidParams, ProviderError
from xbtcpay.core.persistence import Engine
from xbtcpay.core.registrations import Registrations
from xbtcpay.core.registry import MethodRegistry
from xbtcpay.plugin_api import CallContext
from xbtcpay.storage.chain_store import ChainStore
from xbtcpay.sweep.funds import Funds, funds_json, summarize
from xbtcpay.sweep.records import SweepStore
from xbtcpay.sweep.settings import SweepInputs

METRICS_INTERVAL = 60.0
log = structlog.get_logger("xbtcpay.sweep")


class FundsGauges:
    """The funds gauges, on the daemon's own metrics registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        def gauge(name: str, doc: str, labels: tuple[str, ...] = ()) -> Gauge:
            return Gauge(name, doc, list(labels), registry=registry)

        self.received = gauge(
            "xbtcpay_funds_received", "Received per asset (asset units)", ("asset",)
        )
        self.swept = gauge("xbtcpay_funds_swept", "Swept to the treasury per asset", ("asset",))
        self.unswept = gauge(
            "xbtcpay_funds_unswept", "Still on deposit addresses per asset", ("asset",)
        )
        self.unswept_addresses = gauge(
            "xbtcpay_funds_unswept_addresses", "Deposit addresses holding funds", ("asset",)
        )
        self.gas_wallet = gauge("xbtcpay_sweep_gas_wallet_eth", "Gas wallet balance (ETH)")
        self.runway = gauge(
            "xbtcpay_sweep_gas_runway_addresses",
            "Addresses the gas wallet can still sweep at the current base fee",
        )
        self.updated = gauge(
            "xbtcpay_funds_updated_timestamp_seconds", "When the funds gauges were last refreshed"
        )

    def update(self, funds: Funds) -> None:
        for name, a in funds.assets.items():
            scale = Decimal(10) ** a.decimals
            self.received.labels(name).set(float(a.received / scale))
            self.swept.labels(name).set(float(a.swept / scale))
            self.unswept.labels(name).set(float(a.unswept / scale))
            self.unswept_addresses.labels(name).set(len(a.balances))
        if funds.runway is not None:
            self.gas_wallet.set(float(Decimal(funds.runway.balance).scaleb(-18)))
            self.runway.set(funds.runway.addresses)
        self.updated.set(time.time())


class FundsService:
    """Computes the funds summary against the node; registered into one daemon."""

    def __init__(self, config: SweepInputs, store: SweepStore, gauges: FundsGauges) -> None:
        self.config = config
        self.store = store
        self.gauges = gauges

    def register(self, registry: MethodRegistry, registrations: Registrations) -> None:
        registry.add("funds.summary", self.summary)
        if self.config.sweep is not None:
            registrations.jobs.append(("funds-gauges", self.refresh, METRICS_INTERVAL))

    async def refresh(self) -> None:
        """The gauge job: a node that does not answer leaves the gauges as they were (read
        only; ``xbtcpay_funds_updated_timestamp_seconds`` shows how old they are)."""
        try:
            await self._funds()
        except ProviderError as exc:
            log.warning("funds.refresh_failed", error=exc.message)

    async def summary(self, params: Mapping[str, Any], call: CallContext) -> dict[str, Any]:
        """Received, swept and unswept per asset, unswept per address, the gas runway."""
        unknown = set(params) - {"asset"}
        if unknown:
            raise InvalidParams(f"unknown parameter {min(unknown)!r}")
        asset = params.get("asset")
        if asset is not None and (not isinstance(asset, str) or asset not in self.config.assets):
            raise InvalidParams(f"unknown asset {asset!r}")
        data = funds_json(await self._funds())
        if asset is not None:  # (assets of other chains than the primary one are not summed)
            data["assets"] = {k: v for k, v in data["assets"].items() if k == asset}
        return data

    async def _funds(self) -> Funds:
        try:
            async with ChainClient(
                http_urls(self.config.chain.rpc_urls), timeout=self.config.chain.request_timeout
            ) as client:
                strays = await ChainStore(self.store.db).strays()
                funds = await summarize(self.config, self.store, client, int(time.time()), strays)
        except ChainError as exc:
            raise ProviderError(f"the Ethereum node did not answer: {exc}") from None
        self.gauges.update(funds)
        return funds


def register(
    config: SweepInputs,
    db: Engine,
    metrics: CollectorRegistry,
    registry: MethodRegistry,
    registrations: Registrations,
) -> FundsService:
    """Plug funds into a daemon: ``funds.summary`` and, with ``sweep:``, the gauge job."""
    service = FundsService(config, SweepStore(db), FundsGauges(metrics))
    service.register(registry, registrations)
    return service

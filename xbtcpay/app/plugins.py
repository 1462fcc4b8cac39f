"""Plugin discovery (entry points), version check, and the context offered to plugins."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import replace
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import structlog

from xbtcpay.core.catalog import Catalog
from xbtcpay.core.errors import PluginError
from xbtcpay.core.models import ApplyResult, NewPayment, Payment, PaymentEvent
from xbtcpay.core.processor import PaymentProcessor
from xbtcpay.core.registrations import Registrations
from xbtcpay.core.registry import MethodRegistry
from xbtcpay.core.secrets import resolve_secret
from xbtcpay.plugin_api import (
    ENTRY_POINT_GROUP,
    PLUGIN_API_VERSION,
    JobFunction,
    MethodHandler,
    Plugin,
    RouteHandler,
)
from xbtcpay.storage.payments import PaymentStore

log = structlog.get_logger("xbtcpay.plugins")


def discover(enabled: Mapping[str, Any]) -> dict[str, Plugin]:
    """Instantiate every enabled plugin from its entry point; PluginError when impossible."""
    available = {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}
    plugins: dict[str, Plugin] = {}
    for name in enabled:
        ep = available.get(name)
        if ep is None:
            raise PluginError(
                f"plugin {name!r} is enabled in config.yaml but not installed "
                f"(no entry point {name!r} in group {ENTRY_POINT_GROUP}); "
                f"installed: {', '.join(sorted(available)) or 'none'}"
            )
        try:
            plugins[name] = ep.load()()
        except Exception as exc:
            raise PluginError(f"plugin {name!r} could not be loaded: {exc}") from exc
    return plugins


def check_version(name: str, plugin: object) -> None:
    version = getattr(plugin, "api_version", None)
    if version != PLUGIN_API_VERSION:
        raise PluginError(
            f"plugin {name!r} speaks plugin API {version!r}; "
            f"this xbtcpay speaks {PLUGIN_API_VERSION}"
        )


class Context:
    """The PluginContext given to one plugin."""

    def __init__(
        self,
        name: str,
        settings: Mapping[str, Any],
        *,
        base_dir: Path,
        base_url: str,
        catalog: Catalog,
        processor: PaymentProcessor,
        store: PaymentStore,
        registry: MethodRegistry,
        registrations: Registrations,
    ):
        self.name = name
        self.settings = settings
        self.log = log.bind(plugin=name)
        self._base_dir = base_dir
        self._base_url = base_url
        self._catalog = catalog
        self._processor = processor
        self._store = store
        self._registry = registry
        self._registrations = registrations

    def secret(self, key: str, *, required: bool = True) -> str | None:
        if key not in self.settings or self.settings[key] is None:
            if required:
                raise PluginError(f"plugins.{self.name}.{key}: required")
            return None
        problems: list[str] = []
        secret = resolve_secret(
            self.settings[key], self._base_dir, f"plugins.{self.name}.{key}", problems
        )
        if secret is None:
            raise PluginError("; ".join(problems))
        return secret.reveal()

    def add_method(self, name: str, handler: MethodHandler) -> None:
        self._registry.add(name, handler)

    def add_route(self, method: str, path: str, handler: RouteHandler) -> None:
        self._registrations.routes.append((method.upper(), path, handler))

    def add_job(self, name: str, job: JobFunction, interval: float) -> None:
        self._registrations.jobs.append((f"{self.name}.{name}", job, interval))

    def public_url(self, path: str) -> str:
        return self._base_url + (path if path.startswith("/") else "/" + path)

    def price(self, product: str, currency: str | None, amount: Any) -> tuple[str, Any]:
        return self._catalog.price(product, currency, amount)

    def product(self, name: str) -> Mapping[str, Any] | None:
        return self._catalog.get(name)

    def product_by(self, field: str, value: str) -> tuple[str, Mapping[str, Any]] | None:
        return self._catalog.by_field(field, value)

    def products_with(self, key: str) -> list[str]:
        return [name for name, spec in self._catalog.products.items() if spec.get(key) is not None]

    async def create_payment(self, new: NewPayment) -> Payment:
        return await self._processor.create(replace(new, method=self.name))

    async def report(self, payment_id: str, event: PaymentEvent) -> ApplyResult:
        payment = await self._processor.get(payment_id)
        if payment.method != self.name:
            raise PluginError(f"plugin {self.name!r} may not report on {payment.method} payments")
        return await self._processor.apply(payment_id, replace(event, source=self.name))

    async def get_payment(self, payment_id: str) -> Payment | None:
        return await self._store.get(payment_id)

    async def find_payment(self, provider_ref: str) -> Payment | None:
        return await self._store.get_by_provider_ref(self.name, provider_ref)

    async def pending_payments(self, limit: int = 500) -> list[Payment]:
        return await self._store.pending_for_method(self.name, limit)

    async def claim(self, key: str) -> bool:
        return await self._store.claim(f"{self.name}:{key}", int(time.time()))

    async def subscription_event(
        self,
        subscription_ref: str,
        kind: str,
        *,
        event_id: str,
        amount_minor: int | None = None,
        currency: str | None = None,
        reference: str | None = None,
    ) -> bool:
        changed = False
        for listener in self._registrations.subscription_listeners:
            changed = (
                await listener(
                    self.name, subscription_ref, kind, event_id, amount_minor, currency, reference
                )
                or changed
            )
        return changed

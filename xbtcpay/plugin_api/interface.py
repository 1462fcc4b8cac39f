"""The plugin interface: what a plugin implements and what the core offers it.

A plugin is a distribution that declares an entry point in the group ``xbtcpay.plugins``
whose object is a zero-argument factory (usually the class) returning a ``Plugin``.
It is loaded only when ``plugins.<name>`` is present in config.yaml.

Plugins translate provider input (API answers, signed webhooks) into ``PaymentEvent``s and
hand them to ``PluginContext.report``; the core applies them through the state machine.
Plugins never write payment state themselves.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from aiohttp import web

from xbtcpay.core.models import ApplyResult, NewPayment, Payment, PaymentEvent

PLUGIN_API_VERSION = 1
ENTRY_POINT_GROUP = "xbtcpay.plugins"


@dataclass(frozen=True)
class CallContext:
    """Who is calling a method and how (the same for every transport)."""

    transport: str  # "jsonrpc" | "http" | "ws"
    client_ip: str
    request_id: str
    customer: str | None = None  # set on the public port: the session's verified customer


MethodHandler = Callable[[Mapping[str, Any], CallContext], Awaitable[Any]]
RouteHandler = Callable[[web.Request], Awaitable[web.StreamResponse]]
JobFunction = Callable[[], Awaitable[None]]


class PluginContext(Protocol):
    """What the core offers a plugin during ``setup`` and afterwards."""

    name: str
    settings: Mapping[str, Any]  # the plugin's section of config.yaml, as written

    def secret(self, key: str, *, required: bool = True) -> str | None:
        """Resolve ``settings[key]`` (literal, {env: NAME} or {file: PATH}); never logged."""

    def add_method(self, name: str, handler: MethodHandler) -> None:
        """Register a method on the private port (JSON-RPC, /api/v0/rpc/<name>, /ws)."""

    def add_route(self, method: str, path: str, handler: RouteHandler) -> None:
        """Register a route on the public port (webhooks, provider callbacks)."""

    def add_job(self, name: str, job: JobFunction, interval: float) -> None:
        """Run ``job`` every ``interval`` seconds while the daemon runs (restarted on error)."""

    def public_url(self, path: str) -> str:
        """Absolute URL of ``path`` on the public port (``public.base_url``)."""

    def price(self, product: str, currency: str | None, amount: Any) -> tuple[str, Any]:
        """Validate a catalog purchase; return (currency, exact Decimal amount).

        Raises ``InvalidParams`` for unknown products, unknown currencies, or amounts that
        differ from the catalog price (top-up products take ``amount`` within min/max).
        """

    def product(self, name: str) -> Mapping[str, Any] | None:
        """The catalog entry ``products.<name>`` or None."""

    def product_by(self, field: str, value: str) -> tuple[str, Mapping[str, Any]] | None:
        """The first catalog entry whose ``field`` equals ``value``, as (name, entry), or None."""

    def products_with(self, key: str) -> list[str]:
        """Names of the catalog products whose entry sets ``key``, in config order."""

    async def create_payment(self, new: NewPayment) -> Payment:
        """Create and persist a payment (state ``new``); a ``provider_ref`` this plugin
        already recorded answers that payment instead of creating a second one."""

    async def report(self, payment_id: str, event: PaymentEvent) -> ApplyResult:
        """Apply an event through the state machine (idempotent on ``event.dedupe_key``)."""

    async def get_payment(self, payment_id: str) -> Payment | None:
        """Load one payment."""

    async def find_payment(self, provider_ref: str) -> Payment | None:
        """The payment of this plugin whose ``provider_ref`` is ``provider_ref``."""

    async def pending_payments(self, limit: int = 500) -> list[Payment]:
        """This plugin's payments still open (``new``/``seen``), oldest first."""

    async def claim(self, key: str) -> bool:
        """Record ``key`` (e.g. a webhook event id) once; False if already recorded."""

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
        """Report what the provider says about one of its subscriptions (``subscription_ref``
        is the provider's id): ``kind`` renewed (a period paid: ``amount_minor``,
        ``currency``, the payment's ``reference``), canceled (stops at period end),
        terminated (ends now) or expired. Applied once per ``event_id``; True when a
        subscription changed."""


@runtime_checkable
class Plugin(Protocol):
    """A payment plugin."""

    name: str
    api_version: int

    async def setup(self, ctx: PluginContext) -> None:
        """Validate settings, create SDK clients, register methods, routes and jobs.

        Raise ``xbtcpay.plugin_api.PluginError`` (or any exception) to stop start-up.
        """

    async def close(self) -> None:
        """Release resources on shutdown."""


@runtime_checkable
class CheckoutLink(Protocol):
    """Optional: a plugin whose payments are paid on the provider's own page.

    The checkout page (``GET /pay/<id>``) of an open payment of this plugin redirects the
    payer to the URL this returns; None (or an error) shows the payment's status instead.
    """

    async def checkout_url(self, payment: Payment) -> str | None:
        """The provider's payment page for ``payment`` while it can still be paid."""

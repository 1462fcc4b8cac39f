"""An asyncio face of the synchronous braintree SDK: every call runs in a worker thread.

SDK exceptions never escape: they become ``ProviderError`` with a message safe to show,
and ``definite`` tells whether the gateway certainly did nothing (bad credentials,
unknown objects) or the outcome is unknown (timeouts, 5xx: reconciliation decides).
"""

from __future__ import annotations

import asyncio
import warnings
from collections.abc import Callable
from decimal import Decimal
from typing import Any, TypeVar
from urllib.parse import urlsplit

with warnings.catch_warnings():
    # The SDK warns about its own deprecated enums at import time.
    warnings.simplefilter("ignore", DeprecationWarning)
    import braintree
    from braintree import exceptions as bt_errors
    from braintree.exceptions import http as bt_http
    from braintree.exceptions.braintree_error import BraintreeError

__all__ = ["LIVE_STATUSES", "BraintreeClient", "BraintreeError", "GatewayError"]

from xbtcpay.plugin_api import ProviderError
from xbtcpay_braintree.settings import BraintreeSettings

T = TypeVar("T")
LIVE_STATUSES = ("Active", "Pending", "Past Due")
DEFINITE = (
    bt_errors.AuthenticationError,
    bt_errors.AuthorizationError,
    bt_errors.NotFoundError,
    bt_errors.UpgradeRequiredError,
    bt_errors.ConfigurationError,
    bt_errors.InvalidSignatureError,
)


class GatewayError(ProviderError):
    """A Braintree call failed; ``definite`` when the gateway certainly did nothing."""

    def __init__(self, detail: str, *, definite: bool) -> None:
        super().__init__(detail)
        self.definite = definite


def environment_of(settings: BraintreeSettings) -> braintree.Environment:
    """The SDK environment: Braintree's own, or a custom gateway URL (tests, proxies)."""
    if settings.environment == "sandbox":
        return braintree.Environment.Sandbox
    if settings.environment == "production":
        return braintree.Environment.Production
    assert settings.gateway_url is not None
    parts = urlsplit(settings.gateway_url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    https = parts.scheme == "https"
    return braintree.Environment(
        "custom",
        parts.hostname,
        str(port),
        f"{parts.scheme}://{parts.hostname}",
        https,
        braintree.Environment.Production.ssl_certificate if https else None,
    )


def describe(exc: Exception) -> str:
    """A short, secret-free description of an SDK failure."""
    if isinstance(exc, bt_errors.AuthenticationError):
        return "Braintree refused the API keys"
    if isinstance(exc, bt_errors.AuthorizationError):
        return "Braintree refused the operation for these API keys"
    if isinstance(exc, bt_errors.NotFoundError):
        return "Braintree does not know this object"
    if isinstance(
        exc, (bt_http.TimeoutError, bt_errors.RequestTimeoutError, bt_errors.GatewayTimeoutError)
    ):
        return "Braintree timed out"
    if isinstance(exc, bt_http.ConnectionError):
        return "Braintree could not be reached"
    return f"Braintree failed ({type(exc).__name__})"


class BraintreeClient:
    """The calls the plugin makes, each awaited off the event loop."""

    def __init__(self, settings: BraintreeSettings) -> None:
        self.settings = settings
        self.gateway = braintree.BraintreeGateway(
            braintree.Configuration(
                environment_of(settings),
                settings.merchant_id,
                settings.public_key,
                settings.private_key,
                timeout=settings.timeout,
                wrap_http_exceptions=True,
            )
        )

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        try:
            return await asyncio.to_thread(fn, *args)
        except BraintreeError as exc:
            raise GatewayError(describe(exc), definite=isinstance(exc, DEFINITE)) from None
        except ValueError as exc:  # the SDK's answer to an api-error-response here
            raise GatewayError(f"Braintree refused: {exc}", definite=True) from None

    async def _find(self, fn: Callable[[str], T], key: str) -> T | None:
        """``fn(key)``, or None when Braintree does not know ``key``."""
        try:
            return await asyncio.to_thread(fn, key)
        except bt_errors.NotFoundError:
            return None
        except BraintreeError as exc:
            raise GatewayError(describe(exc), definite=isinstance(exc, DEFINITE)) from None
        except ValueError as exc:  # the SDK's answer to an api-error-response here
            raise GatewayError(f"Braintree refused: {exc}", definite=True) from None

    async def client_token(self, customer_id: str | None) -> str:
        """A client token; bound to the customer's vault when that customer exists."""
        params: dict[str, Any] = {}
        if customer_id is not None and await self.find_customer(customer_id) is not None:
            params["customer_id"] = customer_id
        return await self._run(self.gateway.client_token.generate, params)

    async def sale(
        self, amount: Decimal, currency: str, nonce: str, order_id: str, customer_id: str | None
    ) -> Any:
        """A sale submitted for settlement; the SDK's SuccessfulResult or ErrorResult."""
        params: dict[str, Any] = {
            "amount": format(amount, "f"),
            "payment_method_nonce": nonce,
            "order_id": order_id,
            "options": {"submit_for_settlement": True},
        }
        account = self.settings.merchant_accounts.get(currency.upper())
        if account:
            params["merchant_account_id"] = account
        if customer_id is not None and await self.find_customer(customer_id) is not None:
            params["customer_id"] = customer_id
        return await self._run(self.gateway.transaction.sale, params)

    async def charge(
        self, amount: Decimal, currency: str, order_id: str, source: dict[str, Any]
    ) -> Any:
        """A sale submitted for settlement from ``source`` (a nonce or a vaulted token)."""
        params: dict[str, Any] = {
            "amount": format(amount, "f"),
            "order_id": order_id,
            "options": {"submit_for_settlement": True},
            **source,
        }
        account = self.settings.merchant_accounts.get(currency.upper())
        if account:
            params["merchant_account_id"] = account
        return await self._run(self.gateway.transaction.sale, params)

    async def find_customer(self, customer_id: str) -> Any | None:
        return await self._find(self.gateway.customer.find, customer_id)

    async def ensure_customer(self, customer_id: str) -> Any:
        """The Braintree customer with our shop's customer id, created when missing."""
        found = await self.find_customer(customer_id)
        if found is not None:
            return found
        result = await self._run(self.gateway.customer.create, {"id": customer_id})
        if not result.is_success:
            raise GatewayError(f"Braintree refused the customer: {result.message}", definite=True)
        return result.customer

    async def vault(self, customer_id: str, nonce: str) -> Any:
        """Store the nonce's card in the customer's vault; the SDK result."""
        return await self._run(
            self.gateway.payment_method.create,
            {
                "customer_id": customer_id,
                "payment_method_nonce": nonce,
                "options": {"make_default": True},
            },
        )

    async def subscribe(self, token: str, plan_id: str, price: Decimal) -> Any:
        """Subscribe a vaulted card to a plan at the catalog's price; the SDK result."""
        return await self._run(
            self.gateway.subscription.create,
            {"payment_method_token": token, "plan_id": plan_id, "price": format(price, "f")},
        )

    async def subscriptions_of(self, customer_id: str) -> list[Any]:
        """Every subscription of the customer (through the vaulted payment methods)."""
        customer = await self.find_customer(customer_id)
        if customer is None:
            return []
        return [
            sub
            for method in customer.payment_methods
            for sub in getattr(method, "subscriptions", [])
        ]

    async def find_subscription(self, subscription_id: str) -> Any | None:
        return await self._find(self.gateway.subscription.find, subscription_id)

    async def cancel(self, subscription_id: str) -> Any:
        return await self._run(self.gateway.subscription.cancel, subscription_id)

    async def transactions_for_order(self, order_id: str) -> list[Any]:
        """Transactions whose order_id is ``order_id`` (our payment id)."""

        def search() -> list[Any]:
            found = self.gateway.transaction.search(
                braintree.TransactionSearch.order_id == order_id
            )
            return list(found.items)

        return await self._run(search)

    def parse_notification(self, signature: str, payload: str) -> Any:
        """Verify and parse a webhook notification (offline: HMAC with the private key)."""
        return self.gateway.webhook_notification.parse(signature, payload)

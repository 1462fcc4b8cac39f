"""Which methods an end user's app may call with a session, and which parameters it may not.

The public port's transports (``xbtcpay.web``) read these: a session calls only the methods
named here, always for its own customer, and never sets the parameters only the shop's
backend decides (where postbacks go, its own order ids, the tax country).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

DEFAULT_CUSTOMER_METHODS: Final = (
    "payment.createStripeCheckoutSession",
    "payment.getStripeConfig",
    "payment.getBraintreeClientToken",
    "payment.processBraintreePayment",
    "payment.cancelBraintreeSubscription",
    "payment.getBraintreeSubscriptions",
    "payment.validateAppStore",
    "payment.createInAppRequest",
    "payment.getInAppConfig",
    "balance.get",
    "balance.history",
    "balance.getTokenAction",
    "payment.purchase",
    "receipt.get",
    "receipt.list",
)
SHOP_ONLY_PARAMS: Final = ("postback_url", "postback_events", "order_id", "tax_country")


class CustomerMethods:
    """The names an app with a session may call on the public port."""

    def __init__(self, names: Iterable[str] = DEFAULT_CUSTOMER_METHODS) -> None:
        self._names = set(names)

    def allow(self, name: str) -> None:
        """Expose one more method to sessions (it must act only for ``params.customer``)."""
        self._names.add(name)

    def __contains__(self, name: object) -> bool:
        return name in self._names

    def names(self) -> list[str]:
        return sorted(self._names)

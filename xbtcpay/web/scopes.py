"""Which scope an API key needs for each method and private route (docs/api-keys.md).

One table, read by the key check of the private port (``xbtcpay.web.key_auth``) and by
``xbtcpay admin create-key`` (which refuses a scope not named here). A method registered
by a plugin is not in the table: it needs ``plugins:call``.
"""

from __future__ import annotations

from typing import Final

METHOD_SCOPES: Final[dict[str, str]] = {
    # payments (the original 0xBTCpay API)
    "start_payment": "payments:create",
    "get_payment": "payments:read",
    "list_payments": "payments:read",
    "cancel_payment": "payments:cancel",
    # balances
    "balance.get": "balances:read",
    "balance.history": "balances:read",
    "balance.getTokenAction": "balances:read",
    "balance.adjust": "balances:write",
    "balance.topUpCrypto": "balances:write",
    # purchases and receipts
    "payment.purchase": "purchases:create",
    "payment.preparetransaction": "purchases:create",
    "payment.finishtransaction": "purchases:create",
    "payment.verifyinapptransaction": "purchases:create",
    "receipt.get": "receipts:read",
    "receipt.list": "receipts:read",
    "receipt.refund": "refunds:create",
    # subscriptions and entitlements
    "payment.itemstate": "entitlements:read",
    "payment.entitlements": "entitlements:read",
    "payment.addexternalsubscription": "subscriptions:write",
    "payment.upgradesubscription": "subscriptions:write",
    "payment.cancelsubscription": "subscriptions:write",
    # vouchers
    "voucher.create": "vouchers:create",
    "payment.redeemvoucher": "vouchers:redeem",
    # funds
    "funds.summary": "funds:read",
    # exchange rates
    "rates.get": "rates:read",
    # refunds of crypto payments and their payouts
    "refund.create": "refunds:write",
    "refund.approve": "refunds:write",
    "refund.cancel": "refunds:write",
    "refund.get": "refunds:read",
    "refund.list": "refunds:read",
    # the books
    "export.journal": "books:read",
}
PLUGIN_SCOPE: Final = "plugins:call"
# Private routes other than the three transports; /healthz needs no key (load balancers).
ROUTE_SCOPES: Final[dict[str, str]] = {
    "/metrics": "metrics:read",
    "/User/Purchase": "purchases:create",
    "/User/Purchase.json": "purchases:create",  # ServiceStack's format suffixes
    "/User/Purchase.jsv": "purchases:create",
}
OPEN_ROUTES: Final = frozenset({"/healthz"})
SCOPES: Final = frozenset({*METHOD_SCOPES.values(), *ROUTE_SCOPES.values(), PLUGIN_SCOPE})


def scope_of(method: str) -> str:
    """The scope a key needs to call ``method``."""
    return METHOD_SCOPES.get(method, PLUGIN_SCOPE)


def parse_scopes(text: str) -> frozenset[str]:
    """``payments:create,payments:read``, or ValueError naming what is not a scope."""
    named = [s.strip() for s in text.split(",") if s.strip()]
    if not named:
        raise ValueError("name at least one scope")
    unknown = sorted(set(named) - SCOPES)
    if unknown:
        raise ValueError(
            f"unknown scope {', '.join(unknown)}; scopes are {', '.join(sorted(SCOPES))}"
        )
    return frozenset(named)

"""What a paid transaction or a redeemed voucher gives: a subscription period, an ownage
or pay-per-view entitlement, or balance credit. Runs inside the caller's transaction."""

from __future__ import annotations

import secrets
from dataclasses import replace
from typing import Any

from xbtcpay.commerce.currencies import Currency
from xbtcpay.commerce.media_access import subscription_store
from xbtcpay.commerce.media_access.products import Terms
from xbtcpay.commerce.media_access.subscription import Subscription, add_months
from xbtcpay.commerce.media_access.subscription_state import SubState
from xbtcpay.commerce.purchases import ledger
from xbtcpay.commerce.purchases.ledger import Kind, Posting
from xbtcpay.core.persistence import UnitOfWork

HOUR = 3600


def new_subscription_id() -> str:
    return "sub_" + secrets.token_urlsafe(12)


def pending_subscription(
    customer: str,
    terms: Terms,
    *,
    provider: str,
    provider_ref: str | None,
    premium: bool,
    will_renew: bool,
    can_renew: bool,
    paid_monthly: bool,
    capture_on: int | None,
    now: int,
) -> Subscription:
    return Subscription(
        id=new_subscription_id(),
        customer=customer,
        product=terms.product,
        provider=provider,
        provider_ref=provider_ref,
        state=SubState.PENDING,
        premium=premium or terms.premium,
        duration_months=terms.duration_months,
        anchor_at=None,
        periods=0,
        valid_until=None,
        will_renew=will_renew,
        can_renew=can_renew,
        paid_monthly=paid_monthly,
        capture_on=capture_on,
        created_at=now,
        updated_at=now,
    )


def active_subscription(
    customer: str,
    terms: Terms,
    *,
    provider: str,
    provider_ref: str | None,
    premium: bool,
    now: int,
    valid_until: int | None = None,
    will_renew: bool = False,
) -> Subscription:
    """A subscription that starts now (vouchers, external and in-app subscriptions)."""
    until = valid_until if valid_until is not None else add_months(now, terms.duration_months)
    pending = pending_subscription(
        customer,
        terms,
        provider=provider,
        provider_ref=provider_ref,
        premium=premium,
        will_renew=will_renew,
        can_renew=True,
        paid_monthly=True,
        capture_on=None,
        now=now,
    )
    return replace(pending, state=SubState.ACTIVE, anchor_at=now, periods=1, valid_until=until)


async def grant_entitlement(
    conn: UnitOfWork, customer: str, terms: Terms, source: str, now: int
) -> dict[str, Any]:
    """Ownage (forever) or pay-per-view (``ppv_hours`` from now)."""
    ends = None if terms.kind == "ownage" else now + terms.ppv_hours * HOUR
    await conn.execute(
        "INSERT INTO entitlements (customer, kind, product, source, starts_at, ends_at,"
        " created_at) VALUES (?,?,?,?,?,?,?)",
        (customer, terms.kind, terms.product, source, now, ends, now),
    )
    return {"kind": terms.kind, "product": terms.product, "valid_until": ends}


async def grant_product(
    conn: UnitOfWork, customer: str, terms: Terms, source: str, now: int, provider: str
) -> dict[str, Any]:
    """A product's entitlement; for a subscription product one period starting now."""
    if terms.kind != "subscription":
        return await grant_entitlement(conn, customer, terms, source, now)
    sub = active_subscription(
        customer, terms, provider=provider, provider_ref=source, premium=terms.premium, now=now
    )
    await subscription_store.insert(conn, sub, source=source)
    return {
        "kind": "subscription",
        "product": terms.product,
        "subscription": sub.id,
        "valid_until": sub.valid_until,
    }


async def grant_balance(
    conn: UnitOfWork,
    customer: str,
    currency: Currency,
    units: int,
    source: str,
    now: int,
    kind: Kind = Kind.GRANT,
) -> dict[str, Any]:
    """Credit the customer's balance on the ledger, once per ``source``."""
    await ledger.append(
        conn,
        Posting(
            customer, currency.code, units, kind, idempotency_key=source, at=now, reason=source
        ),
    )
    return {"kind": "balance", "currency": currency.code, "amount": currency.format(units)}


async def grant_discount(
    conn: UnitOfWork, customer: str, discount: dict[str, str], source: str, now: int
) -> dict[str, Any]:
    await conn.execute(
        "INSERT INTO discounts (customer, product, percent, amount, source, at)"
        " VALUES (?,?,?,?,?,?)",
        (
            customer,
            discount["product"],
            discount.get("percent"),
            discount.get("amount"),
            source,
            now,
        ),
    )
    return {"kind": "discount", **discount}

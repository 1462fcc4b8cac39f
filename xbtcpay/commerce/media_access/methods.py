"""The media access API's methods (``payment.*``, the nexxOMNIA payment endpoint's) and ``voucher.create`` over the MethodRegistry.

The customer is the call's ``customer`` parameter (the shop's backend on the private port).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import structlog

from xbtcpay.commerce.currencies import Currencies
from xbtcpay.commerce.media_access import params as media_params
from xbtcpay.commerce.media_access.access import Access
from xbtcpay.commerce.media_access.errors import TooManyAttempts, VoucherRefused
from xbtcpay.commerce.media_access.inapp import InAppVerification
from xbtcpay.commerce.media_access.subscription import Subscription
from xbtcpay.commerce.media_access.subscriptions import Subscriptions
from xbtcpay.commerce.media_access.transactions import Transactions
from xbtcpay.commerce.media_access.voucher_admin import create_voucher
from xbtcpay.commerce.media_access.voucher_attempts import AttemptLimiter
from xbtcpay.commerce.media_access.voucher_store import VoucherStore
from xbtcpay.commerce.media_access.vouchers import code_hash, normalize_code
from xbtcpay.core.errors import InvalidParams, StorageError
from xbtcpay.core.registry import MethodRegistry
from xbtcpay.plugin_api import CallContext

log = structlog.get_logger("xbtcpay.commerce")


def subscription_view(sub: Subscription) -> dict[str, Any]:
    return {
        "id": sub.id,
        "product": sub.product,
        "state": sub.state.value,
        "premium": sub.premium,
        "valid_until": sub.valid_until,
        "will_renew": sub.will_renew,
        "can_renew": sub.can_renew,
        "provider": sub.provider,
    }


def attempt_keys(customer: str, call: CallContext) -> tuple[str, ...]:
    """Whose failed voucher attempts count together.

    A session (public port) is limited per customer and per client address. The shop's
    backend (private port) calls for all its customers from one address, so there only the
    customer it names counts: one customer's typos never lock out the others.
    """
    if call.customer is None:
        return (f"customer:{customer}",)
    return (f"customer:{customer}", f"ip:{call.client_ip}")


class MediaAccessMethods:
    """Handlers of the media access API's methods; registered into a MethodRegistry."""

    def __init__(
        self,
        *,
        access: Access,
        transactions: Transactions,
        subscriptions: Subscriptions,
        vouchers: VoucherStore,
        limiter: AttemptLimiter,
        inapp: InAppVerification,
        products: Mapping[str, Mapping[str, Any]],
        currencies: Currencies,
        registry: MethodRegistry,
    ) -> None:
        self.access = access
        self.transactions = transactions
        self.subscriptions = subscriptions
        self.vouchers = vouchers
        self.limiter = limiter
        self.inapp = inapp
        self.products = products
        self.currencies = currencies
        self.registry = registry

    # What an app holding a session may call on the public port (its own customer only).
    # Not finishtransaction, addexternalsubscription or upgradesubscription: they grant
    # access on the caller's word that money was taken, which only the shop's backend can
    # give (an in-app purchase is verified with the store: verifyinapptransaction).
    CUSTOMER_METHODS = (
        "payment.itemstate",
        "payment.entitlements",
        "payment.redeemvoucher",
        "payment.preparetransaction",
        "payment.verifyinapptransaction",
        "payment.cancelsubscription",
    )

    def register(self, registry: MethodRegistry) -> None:
        for name, handler in (
            ("payment.itemstate", self.itemstate),
            ("payment.entitlements", self.entitlements),
            ("payment.redeemvoucher", self.redeemvoucher),
            ("payment.preparetransaction", self.preparetransaction),
            ("payment.finishtransaction", self.finishtransaction),
            ("payment.verifyinapptransaction", self.verifyinapptransaction),
            ("payment.addexternalsubscription", self.addexternalsubscription),
            ("payment.upgradesubscription", self.upgradesubscription),
            ("payment.cancelsubscription", self.cancelsubscription),
            ("voucher.create", self.voucher_create),
        ):
            registry.add(name, handler)

    async def itemstate(self, params: Mapping[str, Any], call: CallContext) -> dict[str, Any]:
        """Can the customer access ``item`` (``streamtype``) now?"""
        customer = media_params.customer_of(params)
        req = media_params.item_state(params)
        decision = await self.access.item_state(customer, req.item, req.streamtype)
        answer = decision.as_dict()
        if req.perform and decision.access and decision.reason == "subscription":
            assert decision.via is not None
            answer["registered"] = await self.access.register_buy(
                customer, req.item, req.streamtype, decision.via
            )
        return answer

    async def entitlements(self, params: Mapping[str, Any], call: CallContext) -> dict[str, Any]:
        """Every grant of the customer, valid or ended (with its end)."""
        customer = media_params.customer_of(params)
        return {"entitlements": await self.access.listing(customer)}

    async def redeemvoucher(self, params: Mapping[str, Any], call: CallContext) -> dict[str, Any]:
        customer = media_params.customer_of(params)
        kind, raw = media_params.voucher_code(params)
        keys = attempt_keys(customer, call)
        taken = await self.limiter.take(keys)  # before the lookup: at most the limit is tried
        if taken is None:
            log.warning("voucher.rate_limited", customer=customer, client_ip=call.client_ip)
            raise TooManyAttempts("too many failed voucher attempts; try again later")
        try:
            code = normalize_code(raw, "vouchercode" if kind == "code" else "referencecode")
            result = await self.vouchers.redeem(customer, kind, code_hash(code, kind))
        except (VoucherRefused, InvalidParams) as exc:  # the attempt taken stays: a failure
            log.warning(
                "voucher.redeem_failed",
                customer=customer,
                client_ip=call.client_ip,
                kind=kind,
                reason=exc.detail,
            )
            raise
        await self._give_back(keys, taken)
        self.transactions.on_change(customer)
        log.info("voucher.redeemed", customer=customer, voucher_id=result["voucher"])
        return {"redeemed": True, **result}

    async def _give_back(self, keys: tuple[str, ...], taken: float) -> None:
        """A right code was no failure; the redemption stands even if this write fails."""
        try:
            await self.limiter.give_back(keys, taken)
        except StorageError:
            log.warning("voucher.attempt_not_returned", keys=len(keys))

    async def preparetransaction(
        self, params: Mapping[str, Any], call: CallContext
    ) -> dict[str, Any]:
        customer = media_params.customer_of(params)
        req = media_params.prepare(params)
        if call.customer is not None and req.reference is not None:
            # a provider reference links provider events to a subscription: the shop's call
            raise InvalidParams("reference is set by the shop, not with a session")
        tx_id = await self.transactions.prepare(
            customer, req, from_session=call.customer is not None
        )
        return {"transactionID": tx_id}

    async def finishtransaction(
        self, params: Mapping[str, Any], call: CallContext
    ) -> dict[str, Any]:
        customer = media_params.customer_of(params)
        return await self.transactions.finish(customer, media_params.finish(params))

    async def verifyinapptransaction(
        self, params: Mapping[str, Any], call: CallContext
    ) -> dict[str, Any]:
        customer = media_params.customer_of(params)
        return await self.inapp.verify(customer, media_params.verify_inapp(params), call)

    async def addexternalsubscription(
        self, params: Mapping[str, Any], call: CallContext
    ) -> dict[str, Any]:
        customer = media_params.customer_of(params)
        req = media_params.add_external(params)
        tx_id, sub = await self.subscriptions.add_external(
            customer, req.product, req.valid_until, req.premium
        )
        return {"transactionID": tx_id, "subscription": subscription_view(sub)}

    async def upgradesubscription(
        self, params: Mapping[str, Any], call: CallContext
    ) -> dict[str, Any]:
        customer = media_params.customer_of(params)
        req = media_params.upgrade(params)
        cur = media_params.currency(params, required=False) or self._currency_of_premium()
        sub = await self.subscriptions.upgrade(
            customer, req.reference, req.amount, cur, req.subscription
        )
        return {"upgraded": True, "subscription": subscription_view(sub)}

    def _currency_of_premium(self) -> str:
        for spec in self.products.values():
            if spec.get("type") == "subscription" and spec.get("premium"):
                return str(next(iter(spec.get("prices") or {"EUR": ""})))
        return "EUR"

    async def cancelsubscription(
        self, params: Mapping[str, Any], call: CallContext
    ) -> dict[str, Any]:
        customer = media_params.customer_of(params)
        req = media_params.cancel(params)
        if req.cancel_transaction:
            return {"deleted": True, **await self.transactions.delete(customer, req.transaction_id)}
        after, at_provider = await self.subscriptions.cancel(
            customer,
            req.transaction_id,
            now_=media_params.flag(params, "immediately"),
            reason=req.reason,
        )
        if at_provider == "requested":
            at_provider = await self._cancel_at_provider(after, call)
        return {
            "canceled": True,
            "provider": at_provider,
            "emailSkipped": req.skip_email,
            "subscription": subscription_view(after),
        }

    async def _cancel_at_provider(self, sub: Subscription, call: CallContext) -> str:
        """Stop the provider's billing too, where its plugin offers a way."""
        if sub.provider in ("external", "voucher"):
            return sub.provider  # nothing bills it here
        if (
            sub.provider == "braintree"
            and "payment.cancelBraintreeSubscription" in self.registry.names()
        ):
            answer = await self.registry.call(
                "payment.cancelBraintreeSubscription",
                {"product": sub.product, "customer": sub.customer},
                call,
            )
            ok = isinstance(answer, dict) and answer.get("status") == "success"
            log.info("subscription.provider_cancel", subscription_id=sub.id, ok=ok)
            return "canceled" if ok else "provider_refused"
        return "not_connected"

    async def voucher_create(self, params: Mapping[str, Any], call: CallContext) -> dict[str, Any]:
        """Private port only: a voucher ``{code | reference, grants, ...}``."""
        return await create_voucher(self.vouchers, self.products, self.currencies, params)

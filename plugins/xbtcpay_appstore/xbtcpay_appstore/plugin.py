"""The ``appstore`` plugin: payment.validateAppStore and POST /webhooks/appstore."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import aiohttp
import structlog
from aiohttp import web

from xbtcpay.plugin_api import (
    PLUGIN_API_VERSION,
    CallContext,
    InvalidParams,
    Origin,
    PluginContext,
    Recorded,
    State,
)
from xbtcpay_appstore.ledger import Ledger
from xbtcpay_appstore.notifications import apply_notification
from xbtcpay_appstore.purchase import Purchase, Refused
from xbtcpay_appstore.receipt import verify_receipt
from xbtcpay_appstore.settings import AppStoreSettings, load_settings, product_index
from xbtcpay_appstore.verify import AppleVerifier

log = structlog.get_logger("xbtcpay.plugins.appstore")
WEBHOOK_PATH = "/webhooks/appstore"


class AppStorePlugin:
    """App Store in-app purchases: StoreKit 2 verified offline, legacy receipts via Apple."""

    name = "appstore"
    api_version = PLUGIN_API_VERSION

    def __init__(self) -> None:
        self._session: aiohttp.ClientSession | None = None

    async def setup(self, ctx: PluginContext) -> None:
        """Check settings, build the verifiers, register the method and the webhook."""
        self.ctx = ctx
        self.settings: AppStoreSettings = load_settings(ctx)
        self.verifier = AppleVerifier(self.settings)
        self.ledger = Ledger(ctx, product_index(ctx, self.settings.products))
        ctx.add_method("payment.validateAppStore", self.validate)
        ctx.add_route("POST", WEBHOOK_PATH, self.webhook)
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=self.settings.timeout)
        )
        log.info(
            "appstore.ready",
            bundle_id=self.settings.bundle_id,
            environments=list(self.settings.accepted_environments()),
            products=len(self.settings.products),
        )

    async def close(self) -> None:
        """Close the HTTP session used for legacy receipts."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def validate(self, params: Mapping[str, Any], call: CallContext) -> dict[str, Any]:
        """Verify a StoreKit 2 signed transaction or a legacy receipt; record the purchase."""
        receipt, origin = _parse_params(params)
        if origin.postback_url is None:
            origin = replace(origin, postback_url=self.settings.postback_url)
        try:
            purchases = await self._verify(receipt)
            return await self._record(purchases, origin)
        except Refused as exc:
            log.info("appstore.receipt_refused", reason=exc.reason)
            return {"valid": False, "reason": exc.reason}

    async def _verify(self, receipt: str) -> list[Purchase]:
        if receipt.count(".") == 2:
            return [self.verifier.transaction(receipt)]
        assert self._session is not None
        return await verify_receipt(self._session, self.settings, receipt)

    async def _record(self, purchases: list[Purchase], origin: Origin) -> dict[str, Any]:
        for purchase in purchases:  # a receipt with another customer's purchase records none
            if purchase.product_id in self.ledger.products:
                await self.ledger.check_owner(purchase, origin)
        recorded: list[tuple[Purchase, Recorded]] = []
        for purchase in purchases:
            if purchase.product_id not in self.ledger.products:
                log.info("appstore.product_not_in_catalog", product_id=purchase.product_id)
                continue
            if purchase.revocation_date is not None:
                await self.ledger.refund(
                    purchase,
                    f"appstore:revoked:{purchase.transaction_id}",
                    purchase.revocation_reason or "revoked",
                )
                if len(purchases) == 1:
                    raise Refused("transaction was refunded or revoked")
                continue
            recorded.append((purchase, await self.ledger.record(purchase, origin)))
        if not recorded:
            if len(purchases) == 1:
                self.ledger.product_of(purchases[0])  # raises Refused with the product id
            raise Refused("no valid purchase of a catalog product")
        first, rec = recorded[0]
        answer = {"valid": True, **_summary(first, rec)}
        if first.source == "receipt":
            answer["payments"] = [_summary(p, r) for p, r in recorded]
        return answer

    async def webhook(self, request: web.Request) -> web.Response:
        """App Store Server Notifications V2; 400 for anything not signed by Apple."""
        try:
            body = json.loads(await request.text())
            signed = body["signedPayload"] if isinstance(body, dict) else None
            notification = self.verifier.notification(signed)
        except (ValueError, KeyError, UnicodeDecodeError):
            return web.json_response({"error": "expected JSON {signedPayload}"}, status=400)
        except Refused as exc:
            log.warning("appstore.notification_refused", reason=exc.reason)
            return web.json_response({"error": exc.reason}, status=400)
        outcome = await apply_notification(self.ledger, notification, self.settings.postback_url)
        first = await self.ctx.claim(f"notification:{notification.uuid}")
        log.info(
            "appstore.notification",
            notification_uuid=notification.uuid,
            type=notification.type,
            subtype=notification.subtype,
            outcome=outcome,
            replay=not first,
        )
        return web.json_response({"received": True})


def _summary(purchase: Purchase, rec: Recorded) -> dict[str, Any]:
    return {
        **rec.summary(),
        "transactionId": purchase.transaction_id,
        "originalTransactionId": purchase.original_transaction_id,
        "productId": purchase.product_id,
        "environment": purchase.environment,
        "expiresDate": purchase.expires_date,
        "active": rec.payment.status == State.PAID and not _expired(purchase),
    }


def _expired(purchase: Purchase) -> bool:
    return purchase.expires_date is not None and purchase.expires_date <= time.time() * 1000


def _parse_params(params: Mapping[str, Any]) -> tuple[str, Origin]:
    receipt = params.get("receipt")
    if not isinstance(receipt, str) or not receipt.strip():
        raise InvalidParams("missing receipt")
    return receipt.strip(), Origin.from_params(params)

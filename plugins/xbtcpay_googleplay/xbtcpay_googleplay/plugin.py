"""The ``googleplay`` plugin: payment.validateGooglePlay and POST /webhooks/googleplay."""

from __future__ import annotations

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
    ProviderError,
    Recorded,
    State,
)
from xbtcpay_googleplay.api import PlayApi
from xbtcpay_googleplay.ledger import Ledger, void_key
from xbtcpay_googleplay.notifications import apply_notification
from xbtcpay_googleplay.purchase import Purchase, Refused
from xbtcpay_googleplay.push import PushVerifier, Unauthorized, parse_push
from xbtcpay_googleplay.settings import GooglePlaySettings, load_settings
from xbtcpay_googleplay.subscriptions import SubscriptionChange, map_onto_payments
from xbtcpay_googleplay.verification import Verifier
from xbtcpay_googleplay.voided import VoidedPoll

log = structlog.get_logger("xbtcpay.plugins.googleplay")
WEBHOOK_PATH = "/webhooks/googleplay"
MAX_TOKEN = 4096
MAX_PUSH_BYTES = 64 * 1024


class GooglePlayPlugin:
    """Google Play purchases verified with the Play Developer API; RTDN over Pub/Sub push."""

    name = "googleplay"
    api_version = PLUGIN_API_VERSION

    def __init__(self) -> None:
        self._session: aiohttp.ClientSession | None = None

    async def setup(self, ctx: PluginContext) -> None:
        """Check settings, build the API client, register the method, webhook and poll."""
        self.ctx = ctx
        self.settings: GooglePlaySettings = load_settings(ctx)
        self.ledger = Ledger(ctx)
        self.verifier = Verifier(
            PlayApi(self.settings), self.ledger, self.settings.allow_test_purchases
        )
        self.push = PushVerifier(
            self._fetch_certs, self.settings.push_audience, self.settings.push_service_account
        )
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=self.settings.timeout)
        )
        ctx.add_method("payment.validateGooglePlay", self.validate)
        ctx.add_route("POST", WEBHOOK_PATH, self.webhook)
        self.voided_poll = VoidedPoll(self.verifier, self.settings.voided_lookback_days)
        if self.settings.voided_poll_interval > 0:
            ctx.add_job("voided", self.voided_poll, self.settings.voided_poll_interval)
        log.info(
            "googleplay.ready",
            package_name=self.settings.package_name,
            allow_test_purchases=self.settings.allow_test_purchases,
        )

    async def close(self) -> None:
        """Close the HTTP session used for Google's certificates."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def on_subscription(self, change: SubscriptionChange) -> str:
        """Where subscription notifications go; a subscription layer may replace this."""
        return await map_onto_payments(self.ledger, change)

    async def validate(self, params: Mapping[str, Any], call: CallContext) -> dict[str, Any]:
        """Verify a purchase token with Google; record, acknowledge, answer {valid, ...}."""
        token, product_id, origin = _parse_params(params, self.settings.package_name)
        if origin.postback_url is None:
            origin = replace(origin, postback_url=self.settings.postback_url)
        try:
            product = self.ledger.product_of(product_id)
            spec = self.ctx.product(product) or {}
            kind = "subscription" if spec.get("type") == "subscription" else "product"
            purchase = await self.verifier.fetch(kind, product_id, token)
            return await self._settle(purchase, origin)
        except Refused as exc:
            log.info("googleplay.purchase_refused", reason=exc.reason)
            return {"valid": False, "reason": exc.reason}

    async def _settle(self, purchase: Purchase, origin: Origin) -> dict[str, Any]:
        if purchase.kind == "product" and purchase.state == "pending":
            self.verifier.check_test(purchase)
            payment = await self.ledger.open(purchase, origin, purchase.ref)
            return {
                "valid": False,
                "pending": True,
                "id": payment.id,
                "reason": "purchase is pending; it is recorded when Google completes it",
            }
        if purchase.kind == "product" and purchase.state == "canceled":
            await self.ledger.refund(purchase.ref, void_key(purchase.ref), "canceled")
            raise Refused("purchase was canceled or refunded")
        recorded = await self.verifier.settle(purchase, origin)
        return {"valid": True, **_summary(purchase, recorded)}

    async def webhook(self, request: web.Request) -> web.Response:
        """Pub/Sub push of a real-time developer notification; 401/400 for anything else."""
        try:
            await self.push.verify(request.headers.get("Authorization"))
            body = await request.read()
            if len(body) > MAX_PUSH_BYTES:
                raise Refused("push body too large")
            notification = parse_push(body)
        except Unauthorized as exc:
            log.warning("googleplay.push_unauthorized", reason=exc.reason)
            return web.json_response({"error": exc.reason}, status=401)
        except Refused as exc:
            log.warning("googleplay.push_refused", reason=exc.reason)
            return web.json_response({"error": exc.reason}, status=400)
        except ProviderError:
            return web.json_response({"error": "certificates unavailable"}, status=503)
        if notification.package_name != self.settings.package_name:
            log.warning(
                "googleplay.push_other_package",
                message_id=notification.message_id,
                package_name=notification.package_name,
            )
            return web.json_response({"received": True, "ignored": "another package"})
        try:
            outcome = await apply_notification(
                self.verifier, self.on_subscription, notification, self.settings.postback_url
            )
        except ProviderError:
            # Google's API is down: answer non-2xx so Pub/Sub delivers the push again.
            return web.json_response({"error": "Google Play unavailable, retry"}, status=503)
        first = await self.ctx.claim(f"message:{notification.message_id}")
        log.info(
            "googleplay.notification",
            message_id=notification.message_id,
            kind=notification.kind,
            type=notification.type,
            outcome=outcome,
            replay=not first,
        )
        return web.json_response({"received": True})

    async def _fetch_certs(self) -> Mapping[str, str]:
        assert self._session is not None
        try:
            async with self._session.get(self.settings.push_certs_url) as resp:
                if resp.status != 200:
                    raise ProviderError(f"Google certificates: HTTP {resp.status}")
                certs = await resp.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            log.warning("googleplay.certs_unavailable", error=type(exc).__name__)
            raise ProviderError("Google certificates unavailable") from exc
        if not isinstance(certs, dict) or not all(isinstance(v, str) for v in certs.values()):
            raise ProviderError("Google certificates not readable")
        return certs


def _summary(purchase: Purchase, rec: Recorded) -> dict[str, Any]:
    return {
        **rec.summary(),
        "productId": purchase.product_id,
        "orderId": purchase.order_id,
        "kind": purchase.kind,
        "test": purchase.test,
        "expiryTime": purchase.expiry_time,
        "active": rec.payment.status == State.PAID,
    }


def _parse_params(params: Mapping[str, Any], package: str) -> tuple[str, str, Origin]:
    token, product_id = params.get("purchase_token"), params.get("product_id")
    if not isinstance(token, str) or not token.strip() or len(token) > MAX_TOKEN:
        raise InvalidParams("missing purchase_token")
    if not isinstance(product_id, str) or not product_id.strip() or len(product_id) > 150:
        raise InvalidParams("missing product_id")
    given = params.get("package_name")
    if given is not None and given != package:
        raise InvalidParams(f"package_name {given!r} is not this shop's app ({package})")
    origin = Origin.from_params(params)
    return token.strip(), product_id.strip(), origin

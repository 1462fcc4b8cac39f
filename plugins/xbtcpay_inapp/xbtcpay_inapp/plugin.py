"""The ``inapp`` plugin: payment.createInAppRequest, POST /inapp/postback and /inapp/chargeback."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

import structlog
from aiohttp import web

from xbtcpay.plugin_api import (
    PLUGIN_API_VERSION,
    CallContext,
    Event,
    NewPayment,
    Payment,
    PaymentEvent,
    PluginContext,
)
from xbtcpay_inapp.charged import offered_prices, postback_shortfall, received
from xbtcpay_inapp.offer import Offer, parse_offer
from xbtcpay_inapp.settings import InAppSettings, load_settings
from xbtcpay_inapp.tokens import (
    MAX_NOTICE_BYTES,
    Notice,
    NoticeRefused,
    product_data,
    sign_request,
    verify_notice,
)

log = structlog.get_logger("xbtcpay.plugins.inapp")
POSTBACK_PATH = "/inapp/postback"
CHARGEBACK_PATH = "/inapp/chargeback"
REFUND_REASONS = {"refund", "refunded"}
# Unpaid requests expire this long after their JWT does: providers retry postbacks for a while.
POSTBACK_GRACE = 86400


class InAppPlugin:
    """JWT in-app payments: we sign the request, the provider signs postbacks and chargebacks."""

    name = "inapp"
    api_version = PLUGIN_API_VERSION

    async def setup(self, ctx: PluginContext) -> None:
        """Check settings and register the method and the two provider callbacks."""
        self.ctx = ctx
        self.settings: InAppSettings = load_settings(ctx)
        ctx.add_method("payment.createInAppRequest", self.create_request)
        ctx.add_method("payment.getInAppConfig", self.config)
        ctx.add_route("POST", POSTBACK_PATH, self.postback)
        ctx.add_route("POST", CHARGEBACK_PATH, self.chargeback)
        log.info(
            "inapp.ready",
            app_key=self.settings.app_key,
            audience=self.settings.audience,
            algorithms=list(self.settings.algorithms),
        )

    async def close(self) -> None:
        """Nothing to release."""

    async def config(self, params: Mapping[str, Any], call: CallContext) -> dict[str, Any]:
        """Public facts a shop front-end may need (never the secret)."""
        s = self.settings
        return {
            "appKey": s.app_key,
            "audience": s.audience,
            "requestTyp": s.request_typ,
            "algorithm": s.algorithm,
            "expiry": s.expiry,
            "postbackURL": self.ctx.public_url(POSTBACK_PATH),
            "chargebackURL": self.ctx.public_url(CHARGEBACK_PATH),
        }

    async def create_request(self, params: Mapping[str, Any], call: CallContext) -> dict[str, Any]:
        """Create our payment, then the signed request JWT that links back to it."""
        offer = parse_offer(params, self.ctx, self.settings.default_country)
        payment = await self.ctx.create_payment(
            NewPayment(
                method=self.name,
                asset=offer.currency,
                amount=offer.amount,
                data=offer.data,
                postback_url=offer.postback_url,
                product=offer.product,
                customer=offer.customer,
                expires_in=self.settings.expiry + POSTBACK_GRACE,
                extra={
                    "request": {
                        "name": offer.name,
                        "defaultPrice": offer.default_country,
                        "prices": offered_prices(offer.prices),
                    }
                },
            )
        )
        request = self._request_body(offer, payment.id)
        token = sign_request(self.settings, request, int(time.time()))
        log.info("inapp.request_signed", payment_id=payment.id, product=offer.product)
        return {"jwt": token, "id": payment.id}

    def _request_body(self, offer: Offer, payment_id: str) -> dict[str, Any]:
        body: dict[str, Any] = {
            "name": offer.name,
            "description": offer.description,
            "price": [dict(p) for p in offer.prices],
            "defaultPrice": offer.default_country,
            "productData": product_data(payment_id, offer.product_data),
            "postbackURL": self.ctx.public_url(POSTBACK_PATH),
            "chargebackURL": self.ctx.public_url(CHARGEBACK_PATH),
        }
        if offer.price_point is not None:
            body["pricePoint"] = offer.price_point
        return body

    async def postback(self, request: web.Request) -> web.Response:
        """A verified postback pays the payment; the answer is the transactionID."""
        return await self._notice(request, self.settings.postback_typ, "postback")

    async def chargeback(self, request: web.Request) -> web.Response:
        """A verified chargeback charges the payment back (or refunds it, reason "refund")."""
        return await self._notice(request, self.settings.chargeback_typ, "chargeback")

    async def _notice(self, request: web.Request, typ: str, kind: str) -> web.Response:
        try:
            notice = verify_notice(self.settings, await _read_notice(request), typ)
        except NoticeRefused as exc:
            log.warning("inapp.notice_refused", kind=kind, reason=exc.reason)
            return web.Response(status=400, text="invalid notice", content_type="text/plain")
        payment = await self._payment_of(notice)
        if payment is None and notice.payment_id is None:
            return _seller_signed(notice, kind)
        if payment is None:
            log.warning(
                "inapp.notice_unknown_payment", kind=kind, transaction_id=notice.transaction_id
            )
            return web.Response(status=400, text="unknown payment", content_type="text/plain")
        result = await self.ctx.report(payment.id, self._event(notice, kind, payment))
        log.info(
            "inapp.notice",
            kind=kind,
            payment_id=payment.id,
            transaction_id=notice.transaction_id,
            changed=result.changed,
            duplicate=result.duplicate,
        )
        # The provider retries until it reads exactly the transactionID back.
        return web.Response(text=notice.transaction_id, content_type="text/plain")

    def _event(self, notice: Notice, kind: str, payment: Payment) -> PaymentEvent:
        facts = {"transactionID": notice.transaction_id}
        price = notice.response.get("price")
        if isinstance(price, dict):
            facts["price"] = json.loads(json.dumps(price, default=str))
        if kind == "postback":
            why = postback_shortfall(payment, notice.response.get("price"))
            if why is not None:
                log.error(
                    "inapp.charge_does_not_pay",
                    payment_id=payment.id,
                    reason=why,
                    transaction_id=notice.transaction_id,
                )
            return PaymentEvent(
                Event.PAID if why is None else Event.SEEN,
                amount_received=received(payment, price) if why is None else None,
                reason=why,
                dedupe_key=f"inapp:postback:{notice.transaction_id}",
                provider_ref=notice.transaction_id,
                extra={"postback": facts},
            )
        reason = notice.reason or "chargeback"
        refund = reason.lower() in REFUND_REASONS
        return PaymentEvent(
            Event.REFUNDED if refund else Event.CHARGED_BACK,
            dedupe_key=f"inapp:chargeback:{notice.transaction_id}",
            amount_refunded=payment.amount if refund else None,
            reason=reason,
            extra={"chargeback": facts},
        )

    async def _payment_of(self, notice: Notice) -> Payment | None:
        """Our payment named by the signed productData, else the one paid by this transaction."""
        if notice.payment_id is not None:
            payment = await self.ctx.get_payment(notice.payment_id)
            if payment is not None and payment.method == self.name:
                return payment
        return await self.ctx.find_payment(notice.transaction_id)


def _seller_signed(notice: Notice, kind: str) -> web.Response:
    """A verified notice for a request the seller signed itself (no payment id of ours).

    Nothing here is ours to record: no payment, customer or price was agreed with xbtcpay.
    Answering 400 made the provider retry it forever, as it retries every answer but the
    transactionID; the refusal is final instead: the transactionID is read back (the
    provider stops), ``X-Xbtcpay-Refused`` says why, nothing changes, and the operator is
    told in the log. Requests are to be made with ``payment.createInAppRequest``.
    """
    log.error(
        "inapp.seller_signed_request_refused",
        kind=kind,
        transaction_id=notice.transaction_id,
        advice="sign in-app requests with payment.createInAppRequest",
    )
    return web.Response(
        text=notice.transaction_id,
        content_type="text/plain",
        headers={"X-Xbtcpay-Refused": "request not issued by xbtcpay (no xbtcpay_payment_id)"},
    )


async def _read_notice(request: web.Request) -> Any:
    """The JWT from form field ``notice`` or a JSON body ``{"notice": ...}``."""
    if request.content_length is not None and request.content_length > 4 * MAX_NOTICE_BYTES:
        return None
    try:
        if request.content_type == "application/json":
            body = json.loads(await request.text())
            return body.get("notice") if isinstance(body, dict) else None
        form = await request.post()
    except (ValueError, UnicodeDecodeError):
        return None
    value = form.get("notice")
    return value if isinstance(value, str) else None

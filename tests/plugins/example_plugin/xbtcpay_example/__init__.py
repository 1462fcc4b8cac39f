"""A third-party plugin: "vouchers" that pay a payment when redeemed with the right code."""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from xbtcpay.core.models import NewPayment, PaymentEvent
from xbtcpay.core.state import Event
from xbtcpay.plugin_api import PLUGIN_API_VERSION, CallContext, PluginContext


class ExamplePlugin:
    name = "example"
    api_version = PLUGIN_API_VERSION

    async def setup(self, ctx: PluginContext) -> None:
        self.ctx = ctx
        self.code = ctx.secret("code")
        ctx.add_method("example.createVoucherPayment", self.create)
        ctx.add_route("POST", "/example/redeem", self.redeem)

    async def create(self, params: Mapping[str, Any], call: CallContext) -> dict[str, Any]:
        currency, amount = self.ctx.price(
            str(params.get("product")), params.get("currency"), params.get("amount")
        )
        payment = await self.ctx.create_payment(
            NewPayment(
                method=self.name,
                asset=currency,
                amount=amount,
                product=params.get("product"),
                postback_url=params.get("postback_url"),
            )
        )
        return {"id": payment.id, "amount": str(amount), "currency": currency}

    async def redeem(self, request: web.Request) -> web.Response:
        form = await request.post()
        if not hmac.compare_digest(str(form.get("code", "")), str(self.code)):
            return web.json_response({"error": "bad code"}, status=400)
        payment_id = str(form.get("payment_id", ""))
        if await self.ctx.get_payment(payment_id) is None:
            return web.json_response({"error": "unknown payment"}, status=404)
        result = await self.ctx.report(
            payment_id,
            PaymentEvent(
                Event.PAID, dedupe_key=f"example:{payment_id}", provider_ref=f"v-{payment_id}"
            ),
        )
        return web.json_response({"changed": result.changed, "duplicate": result.duplicate})

    async def close(self) -> None:
        return None


class BrokenPlugin(ExamplePlugin):
    name = "example_broken"

    async def setup(self, ctx: PluginContext) -> None:
        raise RuntimeError("cannot reach the voucher service")


class OldApiPlugin(ExamplePlugin):
    name = "example_old"
    api_version = 0

"""Contract driver for the Stripe plugin: the real SDK against the fake Stripe API."""

from __future__ import annotations

from typing import Any

from tests.fakes.stripe_server import FakeStripe

PRODUCT = "gold_pack"


class StripeDriver:
    name = "stripe"

    def __init__(self) -> None:
        self.fake = FakeStripe()
        self.target_session = ""

    async def start(self) -> None:
        await self.fake.start()

    async def stop(self) -> None:
        await self.fake.stop()

    def plugin_settings(self) -> dict[str, Any]:
        return {
            "api_key": self.fake.api_key,
            "webhook_secret": self.fake.webhook_secret,
            "api_base": self.fake.url,
            "publishable_key": "pk_test_contract",
            "max_network_retries": 0,
            "reconcile_interval": 3600,
        }

    def products(self) -> dict[str, Any]:
        return {PRODUCT: {"type": "one_time", "prices": {"USD": "9.99"}}}

    @staticmethod
    def webhook_url(d: Any) -> str:
        return f"{d.public_url}/webhooks/stripe"

    async def pay(self, d: Any, postback_url: str) -> str:
        reply = await d.call(
            "payment.createStripeCheckoutSession",
            {
                "product": PRODUCT,
                "successUrl": "https://shop.example/ok",
                "cancelUrl": "https://shop.example/cancel",
                "postback_url": postback_url,
                "data": {"order": 7},
            },
        )
        result = reply["result"]
        status = await self.fake.deliver(
            self.webhook_url(d), self.fake.complete(result["sessionId"])
        )
        assert status == 200
        return str(result["id"])

    async def replay(self, d: Any) -> None:
        assert await self.fake.redeliver(self.webhook_url(d)) == 200

    async def target(self, d: Any, postback_url: str) -> str:
        """An open payment (checkout session created, not paid) for a forgery to aim at."""
        reply = await d.call(
            "payment.createStripeCheckoutSession",
            {
                "product": PRODUCT,
                "successUrl": "https://shop.example/ok",
                "cancelUrl": "https://shop.example/cancel",
                "postback_url": postback_url,
            },
        )
        self.target_session = str(reply["result"]["sessionId"])
        return str(reply["result"]["id"])

    async def forge(self, d: Any) -> int:
        """The real completion event of the target's session, signed with another secret."""
        event = self.fake.complete(self.target_session)
        return await self.fake.deliver(self.webhook_url(d), event, secret="whsec_not_it")

    def deterministic_call(self) -> tuple[str, dict[str, Any]]:
        return "payment.getStripeConfig", {}


DRIVER = StripeDriver

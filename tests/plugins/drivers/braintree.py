"""Contract driver for the Braintree plugin: the real SDK against the fake gateway."""

from __future__ import annotations

from typing import Any

from tests.fakes.braintree_server import FakeBraintree

PRODUCT = "gold_pack"


class BraintreeDriver:
    name = "braintree"

    def __init__(self) -> None:
        self.fake = FakeBraintree()
        self.target_tx = ""

    async def start(self) -> None:
        await self.fake.start()

    async def stop(self) -> None:
        await self.fake.stop()

    def plugin_settings(self) -> dict[str, Any]:
        return {
            "environment": "custom",
            "gateway_url": self.fake.gateway_url,
            "merchant_id": self.fake.merchant_id,
            "public_key": self.fake.public_key,
            "private_key": self.fake.private_key,
            "reconcile_interval": 3600,
        }

    def products(self) -> dict[str, Any]:
        return {PRODUCT: {"type": "one_time", "prices": {"USD": "9.99"}}}

    @staticmethod
    def webhook_url(d: Any) -> str:
        return f"{d.public_url}/webhooks/braintree"

    async def pay(self, d: Any, postback_url: str) -> str:
        reply = await d.call(
            "payment.processBraintreePayment",
            {
                "paymentNonce": "fake-valid-nonce",
                "product": PRODUCT,
                "postback_url": postback_url,
                "data": {"order": 7},
            },
        )
        result = reply["result"]
        assert result["status"] == "success", result
        # Braintree then settles the transaction and says so in a signed notification.
        notice = self.fake.settle(result["transactionId"])
        assert await self.fake.deliver(self.webhook_url(d), notice) == 200
        return str(result["id"])

    async def replay(self, d: Any) -> None:
        assert await self.fake.redeliver() == 200

    async def target(self, d: Any, postback_url: str) -> str:
        """A paid sale for a forgery to aim at."""
        reply = await d.call(
            "payment.processBraintreePayment",
            {"paymentNonce": "fake-valid-nonce", "product": PRODUCT, "postback_url": postback_url},
        )
        self.target_tx = str(reply["result"]["transactionId"])
        return str(reply["result"]["id"])

    async def forge(self, d: Any) -> int:
        """A real settlement-declined notice for the target's sale with a tampered signature."""
        notice = self.fake.settle(self.target_tx, declined=True)
        notice["bt_signature"] = notice["bt_signature"][:-4] + (
            "0000" if not notice["bt_signature"].endswith("0000") else "1111"
        )
        return await self.fake.deliver(self.webhook_url(d), notice)

    def deterministic_call(self) -> tuple[str, dict[str, Any]]:
        return "payment.getBraintreeSubscriptions", {"customer": "nobody-here"}


DRIVER = BraintreeDriver

"""Contract driver for the Google Play plugin: the real Google client against the fake API."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from tests.fakes.google_play import (
    PUSH_ACCOUNT,
    FakeGooglePlay,
    PubSubSigner,
    developer_notification,
    push_body,
)

PACKAGE = "com.example.app"
AUDIENCE = "https://pay.example.com/webhooks/googleplay"
COINS = "coins.100"
GOLD = "gold.monthly"
PRODUCTS: dict[str, Any] = {
    "coins100": {"type": "one_time", "prices": {"USD": "4.99"}, "googleplay_product_id": COINS},
    "gold": {"type": "subscription", "prices": {"USD": "9.99"}, "googleplay_product_id": GOLD},
}


def plugin_settings(fake: FakeGooglePlay, directory: Path, **extra: Any) -> dict[str, Any]:
    """The ``plugins.googleplay`` section for a daemon talking to ``fake``."""
    return {
        "package_name": PACKAGE,
        "service_account_file": str(fake.service_account_file(directory)),
        "api_base_url": fake.url + "/",
        "push_audience": AUDIENCE,
        "push_service_account": PUSH_ACCOUNT,
        "push_certs_url": fake.url + "/oauth2/v1/certs",
        "allow_test_purchases": False,
        "voided_poll_interval": 0,
        **extra,
    }


class GooglePlayDriver:
    """Pays by validating a purchase token; forges a push signed by a key Google never had."""

    name = "googleplay"

    def __init__(self) -> None:
        self.fake = FakeGooglePlay(package=PACKAGE)
        self._dir = Path(tempfile.mkdtemp(prefix="xbtcpay-googleplay-"))
        self.last: tuple[str, dict[str, Any]] | None = None
        self.target_token = ""

    async def start(self) -> None:
        await self.fake.start()

    async def stop(self) -> None:
        await self.fake.stop()
        shutil.rmtree(self._dir, ignore_errors=True)

    def plugin_settings(self) -> dict[str, Any]:
        return plugin_settings(self.fake, self._dir)

    def products(self) -> dict[str, Any]:
        return PRODUCTS

    async def pay(self, d: Any, postback_url: str) -> str:
        token = self.fake.buy(COINS)
        self.last = (
            "payment.validateGooglePlay",
            {"purchase_token": token, "product_id": COINS, "postback_url": postback_url},
        )
        reply = await d.call(*self.last)
        result = reply["result"]
        assert result["valid"] is True and result["duplicate"] is False, reply
        return str(result["id"])

    async def replay(self, d: Any) -> None:
        assert self.last is not None
        reply = await d.call(*self.last)
        assert reply["result"]["duplicate"] is True, reply

    async def target(self, d: Any, postback_url: str) -> str:
        """A paid purchase for a forgery to aim at."""
        self.target_token = self.fake.buy(COINS)
        reply = await d.call(
            "payment.validateGooglePlay",
            {
                "purchase_token": self.target_token,
                "product_id": COINS,
                "postback_url": postback_url,
            },
        )
        return str(reply["result"]["id"])

    async def forge(self, d: Any) -> int:
        """A void of the target's purchase, pushed with a token signed by a key not Google's.

        Google really voided it, so only the push token's check stands between the forged
        push and a refund.
        """
        entry = self.fake.void(self.target_token)
        note = developer_notification(
            PACKAGE,
            voidedPurchaseNotification={
                "purchaseToken": entry["purchaseToken"],
                "orderId": entry["orderId"],
                "productType": 2,
                "refundType": entry["refundType"],
            },
        )
        forged = PubSubSigner().token(AUDIENCE, kid=self.fake.signer.kid)
        async with d.session.post(
            d.public_url + "/webhooks/googleplay",
            data=push_body(note, "forged-1"),
            headers={"Authorization": f"Bearer {forged}", "Content-Type": "application/json"},
        ) as resp:
            return int(resp.status)

    def deterministic_call(self) -> tuple[str, dict[str, Any]]:
        return "payment.validateGooglePlay", {"purchase_token": "tok", "product_id": "not.sold"}


DRIVER = GooglePlayDriver

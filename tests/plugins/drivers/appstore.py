"""Contract driver for the App Store plugin: StoreKit 2 transactions signed by a test chain."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from tests.fakes.apple import AppleChain, AppleSigner
from tests.fakes.verify_receipt_server import VerifyReceiptServer

BUNDLE_ID = "com.example.shop"
COINS = "com.example.shop.coins100"
MONTHLY = "com.example.shop.pro.monthly"
PRODUCTS: dict[str, Any] = {
    "coins100": {"type": "one_time", "prices": {"USD": "9.99"}, "appstore_product_id": COINS},
    "pro_monthly": {
        "type": "subscription",
        "prices": {"USD": "4.99"},
        "appstore_product_id": MONTHLY,
    },
}


class AppStoreDriver:
    """Pays by validating a signed transaction; forges with a key that is not the leaf's."""

    name = "appstore"

    def __init__(self) -> None:
        self.chain = AppleChain.mint()
        self.signer = AppleSigner(self.chain, bundle_id=BUNDLE_ID)
        self.receipts = VerifyReceiptServer(shared_secret="shared-secret")
        self._dir = Path(tempfile.mkdtemp(prefix="xbtcpay-appstore-"))
        self.root_path = self._dir / "AppleRootCA-test.der"
        self.root_path.write_bytes(self.chain.root_der)
        self.last: tuple[str, dict[str, Any]] | None = None
        self.target_tx: dict[str, Any] | None = None

    async def start(self) -> None:
        await self.receipts.start()

    async def stop(self) -> None:
        await self.receipts.stop()
        shutil.rmtree(self._dir, ignore_errors=True)

    def plugin_settings(self) -> dict[str, Any]:
        return {
            "bundle_id": BUNDLE_ID,
            "environment": "sandbox",
            "root_certificates": [str(self.root_path)],
            "products": list(PRODUCTS),
            "verify_receipt_url": self.receipts.production_url,
            "verify_receipt_sandbox_url": self.receipts.sandbox_url,
            "shared_secret": "shared-secret",
        }

    def products(self) -> dict[str, Any]:
        return PRODUCTS

    async def pay(self, d: Any, postback_url: str) -> str:
        jws, _ = self.signer.transaction(COINS)
        self.last = ("payment.validateAppStore", {"receipt": jws, "postback_url": postback_url})
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
        jws, self.target_tx = self.signer.transaction(COINS)
        reply = await d.call(
            "payment.validateAppStore", {"receipt": jws, "postback_url": postback_url}
        )
        return str(reply["result"]["id"])

    async def forge(self, d: Any) -> int:
        """A REFUND notification for the target's transaction, signed by a key not Apple's."""
        assert self.target_tx is not None
        refunded = {
            **self.target_tx,
            "revocationDate": self.target_tx["purchaseDate"],
            "revocationReason": 1,
        }
        signed, _ = self.signer.notification("REFUND", refunded, wrong_key=True)
        async with d.session.post(
            d.public_url + "/webhooks/appstore", json={"signedPayload": signed}
        ) as resp:
            return int(resp.status)

    def deterministic_call(self) -> tuple[str, dict[str, Any]]:
        return "payment.validateAppStore", {"receipt": "not a receipt!"}


DRIVER = AppStoreDriver

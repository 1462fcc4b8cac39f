"""A local stand-in for Apple's legacy verifyReceipt endpoints (production and sandbox).

Speaks Apple's wire format: POST JSON ``{"receipt-data", "password", ...}``, answer JSON with
``status``. Production answers 21007 for sandbox receipts; the sandbox answers 21008 for
production receipts; an unknown receipt is 21002, a wrong shared secret 21004.
"""

from __future__ import annotations

import base64
import json
import secrets
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class FakeReceipt:
    environment: str  # "Production" | "Sandbox"
    bundle_id: str
    in_app: list[dict[str, Any]]


@dataclass
class VerifyReceiptServer:
    """Production at ``/verifyReceipt``, sandbox at ``/sandbox/verifyReceipt``.

    Binding port 0 and reading the port back avoids racing other processes for a port.
    """

    shared_secret: str | None = None
    receipts: dict[str, FakeReceipt] = field(default_factory=dict)
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    port: int = 0  # 0: the OS picks a free port at start()
    _runner: web.AppRunner | None = None

    @property
    def production_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/verifyReceipt"

    @property
    def sandbox_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/sandbox/verifyReceipt"

    def add(self, environment: str, bundle_id: str, *items: dict[str, Any]) -> str:
        """Register a receipt holding ``items`` (in_app entries); returns its base64 text."""
        receipt = base64.b64encode(b"MIAGCSqGSIb3DQEHAqCAMIACAQExCzAJ" + secrets.token_bytes(48))
        text = receipt.decode()
        self.receipts[text] = FakeReceipt(environment, bundle_id, list(items))
        return text

    async def _answer(self, request: web.Request, environment: str) -> web.Response:
        try:
            body = json.loads(await request.text())
        except ValueError:
            return web.json_response({"status": 21000})
        self.calls.append((environment, body))
        receipt = self.receipts.get(body.get("receipt-data", ""))
        if receipt is None:
            return web.json_response({"status": 21002})
        if receipt.environment == "Sandbox" and environment == "Production":
            return web.json_response({"status": 21007})
        if receipt.environment == "Production" and environment == "Sandbox":
            return web.json_response({"status": 21008})
        if self.shared_secret is not None and body.get("password") != self.shared_secret:
            return web.json_response({"status": 21004})
        return web.json_response(
            {
                "status": 0,
                "environment": environment,
                "receipt": {
                    "receipt_type": "ProductionSandbox"
                    if environment == "Sandbox"
                    else "Production",
                    "bundle_id": receipt.bundle_id,
                    "in_app": receipt.in_app,
                },
                "latest_receipt_info": receipt.in_app,
                "latest_receipt": body["receipt-data"],
            }
        )

    async def _production(self, request: web.Request) -> web.Response:
        return await self._answer(request, "Production")

    async def _sandbox(self, request: web.Request) -> web.Response:
        return await self._answer(request, "Sandbox")

    async def start(self) -> VerifyReceiptServer:
        app = web.Application()
        app.router.add_post("/verifyReceipt", self._production)
        app.router.add_post("/sandbox/verifyReceipt", self._sandbox)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()
        self.port = int(self._runner.addresses[0][1])
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


def in_app_item(
    product_id: str, transaction_id: str, *, purchase_ms: int, expires_ms: int | None = None
) -> dict[str, Any]:
    """One receipt entry with the string-typed fields Apple sends."""
    item = {
        "quantity": "1",
        "product_id": product_id,
        "transaction_id": transaction_id,
        "original_transaction_id": transaction_id,
        "purchase_date_ms": str(purchase_ms),
        "original_purchase_date_ms": str(purchase_ms),
        "is_trial_period": "false",
    }
    if expires_ms is not None:
        item["expires_date_ms"] = str(expires_ms)
    return item

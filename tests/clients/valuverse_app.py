"""A Valuverse app's payment calls, written from the Valuverse payment API page alone.

``createStripeCheckoutSession`` as a jsonRpc POST to ``/api/v0/rpc/payment.<name>`` with
``X-Session-Id``/``X-Network-Id``; every ``payment:<name>`` endpoint over the WebSocket as
``{data, event: {id, date}}`` frames (the session in the same headers at the handshake),
replies matched by event id and read as ``{data, error: {status, code, message}}``. The
session id is whatever the app's own login gave it. Pointing it at xbtcpay changes only
``base_url``.
"""

from __future__ import annotations

import itertools
import time
from typing import Any

import aiohttp

BASE_URL = "https://api.valuverse.example"


class ValuverseApp:
    def __init__(
        self,
        session: aiohttp.ClientSession,
        session_id: str,
        *,
        base_url: str,
        network_id: str | None = None,
    ) -> None:
        self.http = session
        self.base_url = base_url.rstrip("/")
        self.headers = {"X-Session-Id": session_id}
        if network_id is not None:
            self.headers["X-Network-Id"] = network_id
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self.ids = itertools.count(1)

    async def __aenter__(self) -> ValuverseApp:
        ws_url = self.base_url.replace("http", "ws", 1) + "/ws"
        self.ws = await self.http.ws_connect(ws_url, headers=self.headers)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.ws is not None:
            await self.ws.close()

    async def rpc(self, endpoint: str, data: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        async with self.http.post(
            f"{self.base_url}/api/v0/rpc/{endpoint}", json=data, headers=self.headers
        ) as resp:
            return resp.status, dict(await resp.json())

    async def call(self, endpoint: str, data: dict[str, Any] | None = None) -> dict[str, Any]:
        assert self.ws is not None, "use the app as an async context manager"
        event_id = f"ev-{next(self.ids)}"
        frame: dict[str, Any] = {
            "endpoint": endpoint,
            "event": {"id": event_id, "date": int(time.time() * 1000)},
        }
        if data is not None:
            frame["data"] = data
        await self.ws.send_json(frame)
        reply = dict(await self.ws.receive_json(timeout=30))
        assert reply["event"]["id"] == event_id, reply
        return reply

    async def create_stripe_checkout_session(self, **data: Any) -> tuple[int, dict[str, Any]]:
        return await self.rpc("payment.createStripeCheckoutSession", data)

    async def validate_app_store(self, receipt: str) -> dict[str, Any]:
        return await self.call("payment:validateAppStore", {"receipt": receipt})

    async def braintree_client_token(self) -> dict[str, Any]:
        return await self.call("payment:getBraintreeClientToken")

    async def process_braintree_payment(self, **data: Any) -> dict[str, Any]:
        return await self.call("payment:processBraintreePayment", data)

    async def cancel_braintree_subscription(self, product: str) -> dict[str, Any]:
        return await self.call("payment:cancelBraintreeSubscription", {"product": product})

    async def braintree_subscriptions(self) -> dict[str, Any]:
        return await self.call("payment:getBraintreeSubscriptions")

    async def stripe_checkout_over_ws(self, **data: Any) -> dict[str, Any]:
        return await self.call("payment:createStripeCheckoutSession", data)

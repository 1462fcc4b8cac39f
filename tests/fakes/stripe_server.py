"""A fake Stripe API on loopback: the Checkout Session endpoints the Stripe plugin calls.

Speaks Stripe's wire format: form-encoded bodies with bracketed keys
(``line_items[0][price_data][unit_amount]=999``), ``Authorization: Bearer <key>``,
``Idempotency-Key`` (same key and parameters -> the same object; other parameters ->
``idempotency_error``), JSON objects and Stripe's error shape
``{"error": {"type", "message", "param", "code"}}``.

Tests drive the "customer" side through helpers (``complete``, ``expire``, ``refund``,
``dispute``...) which return the event Stripe would send, and deliver it signed with
``t=<unix>,v1=<HMAC-SHA256(secret, "<t>.<body>")>`` exactly like Stripe.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import re
import secrets
import string
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import aiohttp
from aiohttp import web

API_VERSION = "2025-01-27.acacia"
_KEY_TOKEN = re.compile(r"[^\[\]]+")


def decode_form(body: str) -> dict[str, Any]:
    """Decode Stripe's bracketed form encoding into nested dicts and lists."""
    root: dict[str, Any] = {}
    for key, value in parse_qsl(body, keep_blank_values=True):
        parts = _KEY_TOKEN.findall(key)
        node = root
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    decoded: dict[str, Any] = _listify(root)
    return decoded


def _listify(node: Any) -> Any:
    if not isinstance(node, dict):
        return node
    out = {k: _listify(v) for k, v in node.items()}
    if out and all(k.isdigit() for k in out):
        return [out[k] for k in sorted(out, key=int)]
    return out


def sign(payload: str, secret: str, timestamp: int | None = None) -> str:
    """The ``Stripe-Signature`` header Stripe sends for ``payload``."""
    t = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{t}.{payload}".encode(), hashlib.sha256).hexdigest()
    return f"t={t},v1={digest}"


class StripeFailure(Exception):
    """An error answered in Stripe's JSON error shape."""

    def __init__(
        self,
        status: int,
        kind: str,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.kind, self.param, self.code = status, kind, param, code

    def response(self) -> web.Response:
        error = {"type": self.kind, "message": str(self), "param": self.param, "code": self.code}
        return web.json_response({"error": error}, status=self.status)


@dataclass
class Delivery:
    """One webhook delivery: the exact bytes and header sent, and the answer."""

    payload: str
    header: str
    status: int


@dataclass
class FakeStripe:
    """The fake API plus the test-side controls."""

    api_key: str = "sk_test_fake_" + "0" * 16
    webhook_secret: str = "whsec_fake_" + secrets.token_hex(8)
    prices: dict[str, dict[str, Any]] = field(default_factory=dict)
    sessions: dict[str, dict[str, Any]] = field(default_factory=dict)
    charges: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: list[dict[str, Any]] = field(default_factory=list)
    deliveries: list[Delivery] = field(default_factory=list)
    fail_next: list[int] = field(default_factory=list)
    _idempotency: dict[str, tuple[str, int, dict[str, Any]]] = field(default_factory=dict)
    _runner: web.AppRunner | None = None
    _ids: Any = field(default_factory=itertools.count)
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # -- server ----------------------------------------------------------------------------

    async def start(self) -> FakeStripe:
        app = web.Application()
        app.router.add_post("/v1/checkout/sessions", self._create_session)
        app.router.add_get("/v1/checkout/sessions", self._list_sessions)
        app.router.add_get("/v1/checkout/sessions/{id}", self._get_session)
        self.add_routes(app)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    def add_routes(self, app: web.Application) -> None:
        """More endpoints of a subclass (``tests/fakes/stripe_vault.py``)."""

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def _new_id(self, prefix: str) -> str:
        # letters after the counter: random hex could hold a Luhn-valid run of 12 digits,
        # which the purchase API refuses as a card number in any field (as it should)
        tail = "".join(secrets.choice(string.ascii_letters) for _ in range(16))
        return f"{prefix}_test_{next(self._ids):04d}{tail}"

    async def _guard(self, request: web.Request) -> dict[str, Any]:
        body = await request.text()
        params = (
            decode_form(body) if request.method == "POST" else decode_form(request.query_string)
        )
        self.requests.append(
            {
                "method": request.method,
                "path": request.path,
                "params": params,
                "headers": dict(request.headers),
            }
        )
        if request.headers.get("Authorization") != f"Bearer {self.api_key}":
            raise StripeFailure(401, "invalid_request_error", "Invalid API Key provided")
        if self.fail_next:
            status = self.fail_next.pop(0)
            raise StripeFailure(status, "api_error", "Something went wrong on Stripe's end")
        return params

    async def _create_session(self, request: web.Request) -> web.Response:
        try:
            params = await self._guard(request)
            key = request.headers.get("Idempotency-Key")
            fingerprint = json.dumps(params, sort_keys=True)
            if key and key in self._idempotency:
                seen, status, body = self._idempotency[key]
                if seen != fingerprint:
                    raise StripeFailure(
                        400,
                        "idempotency_error",
                        "Keys for idempotent requests can only be used with "
                        "the same parameters they were first used with.",
                    )
                return web.json_response(
                    body, status=status, headers={"Idempotent-Replayed": "true"}
                )
            session = self._session_from(params)
        except StripeFailure as failure:
            return failure.response()
        self.sessions[session["id"]] = session
        if key:
            self._idempotency[key] = (fingerprint, 200, session)
        return web.json_response(session)

    def _session_from(self, params: dict[str, Any]) -> dict[str, Any]:
        for name in ("success_url", "mode"):
            if not params.get(name):
                raise StripeFailure(
                    400,
                    "invalid_request_error",
                    f"Missing required param: {name}.",
                    param=name,
                    code="parameter_missing",
                )
        items = params.get("line_items") or []
        if not items:
            raise StripeFailure(
                400,
                "invalid_request_error",
                "line_items is required",
                param="line_items",
                code="parameter_missing",
            )
        total, currency = 0, None
        for index, item in enumerate(items):
            unit, cur = self._unit_price(index, item)
            total += unit * int(item.get("quantity", "1"))
            currency = cur
        sid = self._new_id("cs")
        now = int(time.time())
        return {
            "id": sid,
            "object": "checkout.session",
            "mode": params["mode"],
            "url": f"https://checkout.stripe.com/c/pay/{sid}",
            "amount_total": total,
            "amount_subtotal": total,
            "currency": currency,
            "client_reference_id": params.get("client_reference_id"),
            "customer": None,
            "customer_email": params.get("customer_email"),
            "metadata": params.get("metadata", {}),
            "payment_intent": None,
            "payment_status": "unpaid",
            "status": "open",
            "success_url": params["success_url"],
            "cancel_url": params.get("cancel_url"),
            "created": now,
            "expires_at": int(params.get("expires_at") or now + 86400),
            "livemode": False,
            "_payment_intent_metadata": (params.get("payment_intent_data") or {}).get(
                "metadata", {}
            ),
        }

    def _unit_price(self, index: int, item: dict[str, Any]) -> tuple[int, str]:
        if "price" in item:
            price = self.prices.get(item["price"])
            if price is None:
                raise StripeFailure(
                    400,
                    "invalid_request_error",
                    f"No such price: '{item['price']}'",
                    param=f"line_items[{index}][price]",
                    code="resource_missing",
                )
            return int(price["unit_amount"]), str(price["currency"])
        data = item.get("price_data") or {}
        if "unit_amount" not in data or "currency" not in data:
            raise StripeFailure(
                400,
                "invalid_request_error",
                "You must specify either `price` or `price_data`",
                param=f"line_items[{index}]",
                code="parameter_missing",
            )
        if not data["unit_amount"].isdigit():
            raise StripeFailure(
                400,
                "invalid_request_error",
                "Invalid integer",
                param=f"line_items[{index}][price_data][unit_amount]",
            )
        return int(data["unit_amount"]), data["currency"].lower()

    async def _get_session(self, request: web.Request) -> web.Response:
        try:
            await self._guard(request)
            session = self.sessions.get(request.match_info["id"])
            if session is None:
                raise StripeFailure(
                    404,
                    "invalid_request_error",
                    f"No such checkout.session: '{request.match_info['id']}'",
                    param="session",
                    code="resource_missing",
                )
        except StripeFailure as failure:
            return failure.response()
        return web.json_response(self.public(session))

    async def _list_sessions(self, request: web.Request) -> web.Response:
        try:
            params = await self._guard(request)
        except StripeFailure as failure:
            return failure.response()
        created = params.get("created") or {}
        rows = sorted(self.sessions.values(), key=lambda s: (s["created"], s["id"]), reverse=True)
        rows = [
            s
            for s in rows
            if int(created.get("gte", 0)) <= s["created"] <= int(created.get("lte", 2**62))
        ]
        if "starting_after" in params:
            ids = [s["id"] for s in rows]
            rows = rows[ids.index(params["starting_after"]) + 1 :]
        limit = int(params.get("limit", 10))
        return web.json_response(
            {
                "object": "list",
                "url": "/v1/checkout/sessions",
                "has_more": len(rows) > limit,
                "data": [self.public(s) for s in rows[:limit]],
            }
        )

    @staticmethod
    def public(obj: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in obj.items() if not k.startswith("_")}

    # -- the customer and Stripe's side (test controls) ------------------------------------

    def _event(self, kind: str, obj: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": self._new_id("evt"),
            "object": "event",
            "api_version": API_VERSION,
            "created": int(time.time()),
            "type": kind,
            "livemode": False,
            "pending_webhooks": 1,
            "request": {"id": None, "idempotency_key": None},
            "data": {"object": self.public(obj)},
        }

    def _charge_for(self, session: dict[str, Any]) -> dict[str, Any]:
        pi = self._new_id("pi")
        charge = {
            "id": self._new_id("ch"),
            "object": "charge",
            "amount": session["amount_total"],
            "amount_captured": session["amount_total"],
            "amount_refunded": 0,
            "currency": session["currency"],
            "payment_intent": pi,
            "paid": True,
            "refunded": False,
            "status": "succeeded",
            "created": int(time.time()),
            "metadata": dict(session["_payment_intent_metadata"]),
            "disputed": False,
        }
        self.charges[charge["id"]] = charge
        session["payment_intent"], session["_charge"] = pi, charge["id"]
        return charge

    def complete(self, session_id: str, *, paid: bool = True) -> dict[str, Any]:
        """The customer finished checkout (``paid=False``: a delayed payment method)."""
        session = self.sessions[session_id]
        self._charge_for(session)
        session.update(status="complete", payment_status="paid" if paid else "unpaid")
        return self._event("checkout.session.completed", session)

    def async_succeed(self, session_id: str) -> dict[str, Any]:
        session = self.sessions[session_id]
        session["payment_status"] = "paid"
        return self._event("checkout.session.async_payment_succeeded", session)

    def async_fail(self, session_id: str) -> dict[str, Any]:
        session = self.sessions[session_id]
        self.charges[session["_charge"]].update(status="failed", paid=False)
        return self._event("checkout.session.async_payment_failed", session)

    def expire(self, session_id: str) -> dict[str, Any]:
        session = self.sessions[session_id]
        session.update(status="expired", url=None)
        return self._event("checkout.session.expired", session)

    def refund(self, session_id: str, amount: int | None = None) -> dict[str, Any]:
        """Refund ``amount`` minor units more (all that is left when None)."""
        charge = self.charges[self.sessions[session_id]["_charge"]]
        left = charge["amount"] - charge["amount_refunded"]
        charge["amount_refunded"] += left if amount is None else min(amount, left)
        charge["refunded"] = charge["amount_refunded"] == charge["amount"]
        return self._event("charge.refunded", charge)

    def dispute(self, session_id: str, reason: str = "fraudulent") -> dict[str, Any]:
        charge = self.charges[self.sessions[session_id]["_charge"]]
        charge["disputed"] = True
        dispute = {
            "id": self._new_id("dp"),
            "object": "dispute",
            "amount": charge["amount"],
            "currency": charge["currency"],
            "charge": charge["id"],
            "payment_intent": charge["payment_intent"],
            "reason": reason,
            "status": "needs_response",
            "created": int(time.time()),
        }
        charge["_dispute"] = dispute
        return self._event("charge.dispute.created", dispute)

    def close_dispute(self, session_id: str, status: str = "won") -> dict[str, Any]:
        """The dispute of the session's charge closed ``won`` or ``lost``."""
        dispute = self.charges[self.sessions[session_id]["_charge"]]["_dispute"]
        dispute["status"] = status
        return self._event("charge.dispute.closed", dispute)

    def other_event(self, kind: str = "customer.created") -> dict[str, Any]:
        return self._event(kind, {"id": self._new_id("cus"), "object": "customer"})

    async def deliver(
        self,
        url: str,
        event: dict[str, Any],
        *,
        secret: str | None = None,
        timestamp: int | None = None,
        payload: str | None = None,
    ) -> int:
        """POST ``event`` to ``url`` signed like Stripe does; returns the HTTP status."""
        body = payload if payload is not None else json.dumps(event, indent=2)
        header = sign(body, secret or self.webhook_secret, timestamp)
        return await self.send(url, body, header)

    async def send(self, url: str, body: str, header: str | None) -> int:
        """POST exact bytes with an exact ``Stripe-Signature`` header (None: no header)."""
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
        }
        if header is not None:
            headers["Stripe-Signature"] = header
        async with (
            aiohttp.ClientSession() as session,
            session.post(url, data=body.encode(), headers=headers) as resp,
        ):
            await resp.read()
            self.deliveries.append(Delivery(body, header or "", resp.status))
            return resp.status

    async def redeliver(self, url: str) -> int:
        """Send the last delivery again, byte for byte (Stripe's retry of the same event)."""
        last = self.deliveries[-1]
        return await self.send(url, last.payload, last.header)

"""A fake Braintree gateway on loopback speaking the XML wire format of the braintree SDK.

``/merchants/<id>/...`` with ``X-ApiVersion: 6`` and Basic auth (public:private key);
bodies and answers are XML with dashed tag names and ``type="array|boolean|integer|
datetime"`` / ``nil="true"`` attributes; validation failures and declines are 422
``<api-error-response>`` documents (the SDK turns them into an ``ErrorResult``).

Test nonces as in Braintree's sandbox: ``fake-valid-nonce`` (and ``fake-valid-visa-nonce``)
succeed; ``fake-processor-declined-visa-nonce`` is declined 2000 "Do Not Honor";
``fake-gateway-rejected-fraud-nonce`` is gateway-rejected (fraud); others are unknown.

Test controls (``charge_subscription``, ``settle``, ``open_dispute``...) change the state
and return the webhook notification Braintree would send, signed exactly like Braintree
(``bt_signature = public_key|HMAC-SHA1(SHA1(private_key), bt_payload)``,
``bt_payload = base64(XML)``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import secrets
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from xml.etree import ElementTree

import aiohttp
from aiohttp import web

VALID_NONCES = {"fake-valid-nonce", "fake-valid-visa-nonce"}
# Braintree's sandbox nonces of the Apple Pay / Google Pay client integrations, and the card
# details a transaction paid with them carries (``apple_pay`` / ``android_pay_card``).
WALLET_NONCES: dict[str, tuple[str, dict[str, Any]]] = {
    "fake-apple-pay-visa-nonce": (
        "apple_pay",
        {
            "card_type": "Apple Pay - Visa",
            "last_4": "1881",
            "payment_instrument_name": "Visa 1881",
            "source_description": "Visa 1881",
            "expiration_month": "12",
            "expiration_year": "2030",
            "token": None,
        },
    ),
    "fake-android-pay-visa-nonce": (
        "android_pay_card",
        {
            "virtual_card_type": "Visa",
            "virtual_card_last_4": "1881",
            "source_card_type": "Visa",
            "source_card_last_4": "1111",
            "source_description": "Visa 1111",
            "expiration_month": "12",
            "expiration_year": "2030",
            "google_transaction_id": "gtx1",
        },
    ),
}
DECLINED_NONCE = "fake-processor-declined-visa-nonce"
FRAUD_NONCE = "fake-gateway-rejected-fraud-nonce"
LIVE = ("Active", "Pending", "Past Due")


# -- XML ---------------------------------------------------------------------------------


@dataclass
class Collection:
    """Repeated child elements without ``type="array"`` (search result pages)."""

    tag: str
    rows: list[dict[str, Any]]


def to_xml(tag: str, value: Any) -> str:
    """Braintree-style XML for ``value`` (dicts, lists, scalars, None)."""
    name = tag.replace("_", "-")
    if isinstance(value, Collection):
        return (
            f'<{name} type="collection">'
            + "".join(to_xml(value.tag, row) for row in value.rows)
            + f"</{name}>"
        )
    if value is None:
        return f'<{name} nil="true"/>'
    if isinstance(value, bool):
        return f'<{name} type="boolean">{str(value).lower()}</{name}>'
    if isinstance(value, int):
        return f'<{name} type="integer">{value}</{name}>'
    if isinstance(value, datetime):
        return f'<{name} type="datetime">{value.strftime("%Y-%m-%dT%H:%M:%SZ")}</{name}>'
    if isinstance(value, date):
        return f'<{name} type="date">{value.isoformat()}</{name}>'
    if isinstance(value, list):
        singular = _singular(tag)
        return f'<{name} type="array">' + "".join(to_xml(singular, v) for v in value) + f"</{name}>"
    if isinstance(value, dict):
        return f"<{name}>" + "".join(to_xml(k, v) for k, v in value.items()) + f"</{name}>"
    text = str(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return f"<{name}>{text}</{name}>"


def _singular(tag: str) -> str:
    special = {
        "transactions": "transaction",
        "subscriptions": "subscription",
        "credit_cards": "credit_card",
        "status_history": "status_event",
        "errors": "error",
        "plans": "plan",
        "ids": "item",
        "add_ons": "add_on",
        "discounts": "discount",
        "addresses": "address",
    }
    return special.get(tag, "item")


def from_xml(text: str) -> dict[str, Any]:
    """Parse a request body the SDK sent (underscored or dashed tags) into a dict."""
    if not text.strip():
        return {}
    root = ElementTree.fromstring(text)
    return {root.tag.replace("-", "_"): _node(root)}


def _node(el: ElementTree.Element) -> Any:
    kind = el.get("type")
    if kind == "array":
        return [_node(child) for child in el]
    if len(el):
        return {child.tag.replace("-", "_"): _node(child) for child in el}
    text = el.text or ""
    if kind == "boolean":
        return text == "true"
    if kind == "integer":
        return int(text)
    return None if el.get("nil") == "true" else text


def signed_notification(
    kind: str, subject: str, public_key: str, private_key: str
) -> dict[str, str]:
    """``{bt_signature, bt_payload}`` for a notification, signed like Braintree signs it."""
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    xml = (
        f'<notification><timestamp type="datetime">{stamp}</timestamp>'
        f"<kind>{kind}</kind><subject>{subject}</subject></notification>"
    )
    payload = base64.encodebytes(xml.encode()).decode()
    key = hashlib.sha1(private_key.encode()).digest()
    digest = hmac.new(key, payload.encode(), hashlib.sha1).hexdigest()
    return {"bt_signature": f"{public_key}|{digest}", "bt_payload": payload}


class Unprocessable(Exception):
    """A 422 ``api-error-response``."""

    def __init__(self, message: str, errors: dict[str, Any] | None = None, **objects: Any) -> None:
        super().__init__(message)
        self.errors, self.objects = errors or {"errors": []}, objects


def validation(scope: str, code: str, attribute: str, message: str) -> Unprocessable:
    return Unprocessable(
        message,
        {
            "errors": [],
            scope: {"errors": [{"code": code, "attribute": attribute, "message": message}]},
        },
    )


# -- the gateway ---------------------------------------------------------------------------


@dataclass
class FakeBraintree:
    merchant_id: str = "fakemerchant"
    public_key: str = "fakepublic"
    private_key: str = field(default_factory=lambda: "priv" + secrets.token_hex(12))
    plans: dict[str, dict[str, Any]] = field(default_factory=dict)
    customers: dict[str, dict[str, Any]] = field(default_factory=dict)
    cards: dict[str, dict[str, Any]] = field(default_factory=dict)
    subscriptions: dict[str, dict[str, Any]] = field(default_factory=dict)
    transactions: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: list[dict[str, Any]] = field(default_factory=list)
    fail_next: list[int] = field(default_factory=list)
    merchant_accounts: dict[str, str] = field(default_factory=dict)  # account id -> currency
    lose_next_answers: int = 0  # do the work, then answer 504 (an answer lost)
    lost_sale_changes: dict[str, Any] = field(default_factory=dict)  # applied to such a sale
    last_delivery: tuple[str, dict[str, str]] | None = None
    port: int = 0
    _runner: web.AppRunner | None = None
    _ids: Any = field(default_factory=itertools.count)

    def add_plan(self, plan_id: str, price: str, currency: str = "USD") -> None:
        self.plans[plan_id] = {
            "id": plan_id,
            "name": plan_id,
            "price": price,
            "currency_iso_code": currency,
            "billing_frequency": 1,
            "add_ons": [],
            "discounts": [],
        }

    async def start(self) -> FakeBraintree:
        app = web.Application()
        base = f"/merchants/{self.merchant_id}"
        routes = [
            ("POST", "/client_token", self._client_token),
            ("POST", "/transactions", self._sale),
            ("GET", "/transactions/{id}", self._find_transaction),
            ("POST", "/transactions/advanced_search_ids", self._search_transaction_ids),
            ("POST", "/transactions/advanced_search", self._search_transactions),
            ("POST", "/customers", self._create_customer),
            ("GET", "/customers/{id}", self._find_customer),
            ("POST", "/payment_methods", self._create_payment_method),
            ("POST", "/subscriptions", self._create_subscription),
            ("GET", "/subscriptions/{id}", self._find_subscription),
            ("PUT", "/subscriptions/{id}/cancel", self._cancel_subscription),
            ("POST", "/subscriptions/advanced_search_ids", self._search_subscription_ids),
            ("POST", "/subscriptions/advanced_search", self._search_subscriptions),
            ("GET", "/plans/", self._plans),
        ]
        for method, path, handler in routes:
            app.router.add_route(method, base + path, self._wrap(handler))
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def gateway_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _wrap(self, handler: Any) -> Any:
        async def wrapped(request: web.Request) -> web.Response:
            body = from_xml(await request.text())
            self.requests.append(
                {
                    "method": request.method,
                    "path": request.path,
                    "body": body,
                    "headers": dict(request.headers),
                }
            )
            expected = (
                "Basic "
                + base64.b64encode(f"{self.public_key}:{self.private_key}".encode()).decode()
            )
            if request.headers.get("Authorization") != expected:
                return web.Response(status=401)
            if request.headers.get("X-ApiVersion") != "6":
                return web.Response(status=426)
            # Injected faults hit the next sale only, never a reconciler's search meanwhile.
            sale = request.method == "POST" and request.path.endswith("/transactions")
            if self.fail_next and sale:
                return web.Response(status=self.fail_next.pop(0))
            try:
                status, tag, value = await handler(request, body)
            except Unprocessable as exc:
                status, tag = 422, "api_error_response"
                value = {"errors": exc.errors, "message": str(exc), **exc.objects}
            except KeyError:
                return web.Response(status=404)
            if self.lose_next_answers and sale:
                self.lose_next_answers -= 1
                value.update(self.lost_sale_changes)  # before anyone can look it up
                return web.Response(status=504)
            xml = '<?xml version="1.0" encoding="UTF-8"?>\n' + to_xml(tag, value)
            return web.Response(status=status, text=xml, content_type="application/xml")

        return wrapped

    def _id(self) -> str:
        return f"{next(self._ids):02d}{secrets.token_hex(3)}"

    # -- handlers ---------------------------------------------------------------------------

    async def _client_token(self, request: web.Request, body: dict[str, Any]) -> Any:
        params = body.get("client_token") or {}
        customer = params.get("customer_id")
        if customer is not None and customer not in self.customers:
            raise Unprocessable("Customer specified by customer_id does not exist")
        fingerprint = hashlib.sha256(f"{self.merchant_id}:{customer}".encode()).hexdigest()
        token = base64.b64encode(
            json.dumps(
                {
                    "version": int(params.get("version") or 2),
                    "merchantId": self.merchant_id,
                    "authorizationFingerprint": fingerprint,
                    "configUrl": f"{self.gateway_url}/merchants/{self.merchant_id}/client_api/v1/"
                    "configuration",
                },
                sort_keys=True,
            ).encode()
        ).decode()
        return 201, "client_token", {"value": token}

    def _amount(self, raw: Any, scope: str) -> Decimal:
        try:
            amount = Decimal(str(raw))
        except InvalidOperation:
            raise validation(scope, "81503", "amount", "Amount is an invalid format.") from None
        if amount <= 0 or amount.as_tuple().exponent < -2:  # type: ignore[operator]
            raise validation(scope, "81531", "amount", "Amount must be greater than zero.")
        return amount

    def _transaction(
        self,
        amount: Decimal,
        outcome: str,
        *,
        order_id: str | None = None,
        customer_id: str | None = None,
        subscription: dict[str, Any] | None = None,
        currency: str = "USD",
        source: str | None = None,
        instrument: tuple[str, dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        code, text, status = {
            "approved": ("1000", "Approved", "submitted_for_settlement"),
            "declined": ("2000", "Do Not Honor", "processor_declined"),
            "fraud": (None, None, "gateway_rejected"),
        }[outcome]
        tx: dict[str, Any] = {
            "id": self._id(),
            "status": status,
            "type": "sale",
            "amount": f"{amount:.2f}",
            "currency_iso_code": currency,
            "order_id": order_id,
            "merchant_account_id": self.merchant_id,
            "processor_response_code": code,
            "processor_response_text": text,
            "processor_response_type": {"approved": "approved", "declined": "soft_declined"}.get(
                outcome, "hard_declined"
            ),
            "gateway_rejection_reason": "fraud" if outcome == "fraud" else None,
            "subscription_id": subscription["id"] if subscription else None,
            "plan_id": subscription["plan_id"] if subscription else None,
            "customer": {"id": customer_id},
            "created_at": datetime.now(UTC),
            "disputes": [],
            "status_history": [],
            "transaction_source": source,
        }
        kind, details = instrument or (
            "credit_card",
            {
                "bin": "411111",
                "last_4": "1111",
                "card_type": "Visa",
                "expiration_month": "12",
                "expiration_year": "2030",
                "token": None,
            },
        )
        tx["payment_instrument_type"] = {"apple_pay": "apple_pay_card"}.get(kind, kind)
        tx[kind] = dict(details)
        self.transactions[tx["id"]] = tx
        return tx

    def _outcome_of(self, nonce: Any, scope: str) -> str:
        if nonce in VALID_NONCES or nonce in WALLET_NONCES:
            return "approved"
        if nonce == DECLINED_NONCE:
            return "declined"
        if nonce == FRAUD_NONCE:
            return "fraud"
        raise validation(
            scope, "91565", "payment_method_nonce", "Unknown or expired payment_method_nonce."
        )

    async def _sale(self, request: web.Request, body: dict[str, Any]) -> Any:
        params = body.get("transaction") or {}
        amount = self._amount(params.get("amount"), "transaction")
        account = params.get("merchant_account_id")
        if account is not None and account not in self.merchant_accounts:
            raise validation(
                "transaction", "91577", "merchant_account_id", "Merchant account ID is invalid."
            )
        currency = self.merchant_accounts.get(account or "", "USD")
        token = params.get("payment_method_token")
        instrument: tuple[str, dict[str, Any]] | None
        customer_id: str | None
        if token is not None:  # a vaulted card, charged by the merchant
            outcome, instrument, customer_id = self._vaulted(token)
        else:
            nonce = params.get("payment_method_nonce")
            outcome = self._outcome_of(nonce, "transaction")
            instrument, customer_id = WALLET_NONCES.get(str(nonce)), params.get("customer_id")
        settle = (params.get("options") or {}).get("submit_for_settlement") in (True, "true")
        tx = self._transaction(
            amount,
            outcome,
            order_id=params.get("order_id"),
            customer_id=customer_id,
            currency=currency,
            source=params.get("transaction_source"),
            instrument=instrument,
        )
        if outcome == "approved" and not settle:
            tx["status"] = "authorized"
        if outcome != "approved":
            message = tx["processor_response_text"] or "Gateway Rejected: fraud"
            raise Unprocessable(message, transaction=tx, params={"transaction": params})
        return 201, "transaction", tx

    def _vaulted(self, token: str) -> tuple[str, tuple[str, dict[str, Any]], str]:
        card = self.cards.get(token)
        if card is None:
            raise validation(
                "transaction", "91518", "payment_method_token", "Payment method token is invalid."
            )
        details = {
            k: card[k]
            for k in ("bin", "last_4", "card_type", "expiration_month", "expiration_year", "token")
        }
        return card["_outcome"], ("credit_card", details), card["customer_id"]

    async def _find_transaction(self, request: web.Request, body: dict[str, Any]) -> Any:
        return 200, "transaction", self.transactions[request.match_info["id"]]

    def _match_transactions(self, search: dict[str, Any]) -> list[dict[str, Any]]:
        rows = list(self.transactions.values())
        if "order_id" in search:
            rows = [t for t in rows if t["order_id"] == (search["order_id"] or {}).get("is")]
        if "ids" in search:
            rows = [t for t in rows if t["id"] in search["ids"]]
        return rows

    async def _search_transaction_ids(self, request: web.Request, body: dict[str, Any]) -> Any:
        ids = [t["id"] for t in self._match_transactions(body.get("search") or {})]
        return 200, "search_results", {"page_size": 50, "ids": ids}

    async def _search_transactions(self, request: web.Request, body: dict[str, Any]) -> Any:
        rows = self._match_transactions(body.get("search") or {})
        return 200, "credit_card_transactions", Collection("transaction", rows)

    async def _create_customer(self, request: web.Request, body: dict[str, Any]) -> Any:
        params = body.get("customer") or {}
        cid = params.get("id") or self._id()
        if cid in self.customers:
            raise validation("customer", "91609", "id", "Customer ID has already been taken.")
        self.customers[cid] = {
            "id": cid,
            "first_name": params.get("first_name"),
            "email": params.get("email"),
            "created_at": datetime.now(UTC),
        }
        return 201, "customer", self._customer(cid)

    def _customer(self, cid: str) -> dict[str, Any]:
        cards = [self._card(t) for t, c in self.cards.items() if c["customer_id"] == cid]
        return {**self.customers[cid], "credit_cards": cards, "addresses": []}

    def _card(self, token: str) -> dict[str, Any]:
        card = {k: v for k, v in self.cards[token].items() if not k.startswith("_")}
        subs = [s for s in self.subscriptions.values() if s["payment_method_token"] == token]
        return {**card, "subscriptions": subs}

    async def _find_customer(self, request: web.Request, body: dict[str, Any]) -> Any:
        return 200, "customer", self._customer(request.match_info["id"])

    async def _create_payment_method(self, request: web.Request, body: dict[str, Any]) -> Any:
        params = body.get("payment_method") or {}
        cid = params.get("customer_id")
        if cid not in self.customers:
            raise validation("payment_method", "93105", "customer_id", "Customer ID is invalid.")
        outcome = self._outcome_of(params.get("payment_method_nonce"), "payment_method")
        token = "tok" + self._id()
        mine = [c for c in self.cards.values() if c["customer_id"] == cid]
        default = not mine or (params.get("options") or {}).get("make_default") in (True, "true")
        for card in mine if default else []:
            card["default"] = False
        self.cards[token] = {
            "token": token,
            "customer_id": cid,
            "default": default,
            "expired": False,
            "bin": "411111",
            "last_4": "1111",
            "card_type": "Visa",
            "expiration_month": "12",
            "expiration_year": "2030",
            "_outcome": outcome,
        }
        return 201, "credit_card", self._card(token)

    async def _create_subscription(self, request: web.Request, body: dict[str, Any]) -> Any:
        params = body.get("subscription") or {}
        plan = self.plans.get(params.get("plan_id") or "")
        if plan is None:
            raise validation("subscription", "91904", "plan_id", "Plan ID is invalid.")
        card = self.cards.get(params.get("payment_method_token") or "")
        if card is None:
            raise validation(
                "subscription", "91903", "payment_method_token", "Payment method token is invalid."
            )
        price = self._amount(params.get("price") or plan["price"], "subscription")
        sub = {
            "id": params.get("id") or "sub" + self._id(),
            "plan_id": plan["id"],
            "status": "Active",
            "price": f"{price:.2f}",
            "balance": "0.00",
            "payment_method_token": card["token"],
            "merchant_account_id": self.merchant_id,
            "current_billing_cycle": 1,
            "failure_count": 0,
            "days_past_due": None,
            "next_billing_date": date.today(),
            "transactions": [],
            "add_ons": [],
            "discounts": [],
            "status_history": [],
        }
        tx = self._transaction(
            price,
            card["_outcome"],
            customer_id=card["customer_id"],
            subscription=sub,
            currency=plan["currency_iso_code"],
        )
        if card["_outcome"] != "approved":
            raise Unprocessable(
                tx["processor_response_text"] or "Gateway Rejected: fraud", transaction=tx
            )
        sub["transactions"] = [tx]
        self.subscriptions[sub["id"]] = sub
        return 201, "subscription", sub

    async def _find_subscription(self, request: web.Request, body: dict[str, Any]) -> Any:
        return 200, "subscription", self.subscriptions[request.match_info["id"]]

    async def _cancel_subscription(self, request: web.Request, body: dict[str, Any]) -> Any:
        sub = self.subscriptions[request.match_info["id"]]
        if sub["status"] == "Canceled":
            raise validation(
                "subscription", "81905", "status", "Subscription has already been canceled."
            )
        sub["status"] = "Canceled"
        return 200, "subscription", sub

    def _match_subscriptions(self, search: dict[str, Any]) -> list[dict[str, Any]]:
        rows = list(self.subscriptions.values())
        if "plan_id" in search:
            rows = [s for s in rows if s["plan_id"] == (search["plan_id"] or {}).get("is")]
        if "status" in search:
            rows = [s for s in rows if s["status"] in search["status"]]
        if "ids" in search:
            rows = [s for s in rows if s["id"] in search["ids"]]
        return rows

    async def _search_subscription_ids(self, request: web.Request, body: dict[str, Any]) -> Any:
        ids = [s["id"] for s in self._match_subscriptions(body.get("search") or {})]
        return 200, "search_results", {"page_size": 50, "ids": ids}

    async def _search_subscriptions(self, request: web.Request, body: dict[str, Any]) -> Any:
        return (
            200,
            "subscriptions",
            Collection("subscription", self._match_subscriptions(body.get("search") or {})),
        )

    async def _plans(self, request: web.Request, body: dict[str, Any]) -> Any:
        return 200, "plans", list(self.plans.values())

    # -- Braintree's side: billing, settlement, disputes, webhooks ----------------------------

    def notification(self, kind: str, tag: str, value: Any) -> dict[str, str]:
        return signed_notification(kind, to_xml(tag, value), self.public_key, self.private_key)

    def charge_subscription(self, sub_id: str, *, declined: bool = False) -> dict[str, str]:
        """The next billing cycle: a new transaction first in the subscription's list."""
        sub = self.subscriptions[sub_id]
        card = self.cards[sub["payment_method_token"]]
        tx = self._transaction(
            Decimal(sub["price"]),
            "declined" if declined else "approved",
            customer_id=card["customer_id"],
            subscription=sub,
        )
        sub["transactions"].insert(0, tx)
        if declined:
            sub.update(status="Past Due", failure_count=sub["failure_count"] + 1)
            return self.notification("subscription_charged_unsuccessfully", "subscription", sub)
        sub["current_billing_cycle"] += 1
        return self.notification("subscription_charged_successfully", "subscription", sub)

    def went_past_due(self, sub_id: str) -> dict[str, str]:
        sub = self.subscriptions[sub_id]
        return self.notification("subscription_went_past_due", "subscription", sub)

    def cancel_by_merchant(self, sub_id: str) -> dict[str, str]:
        sub = self.subscriptions[sub_id]
        sub["status"] = "Canceled"
        return self.notification("subscription_canceled", "subscription", sub)

    def settle(self, tx_id: str, *, declined: bool = False) -> dict[str, str]:
        tx = self.transactions[tx_id]
        tx["status"] = "settlement_declined" if declined else "settled"
        kind = "transaction_settlement_declined" if declined else "transaction_settled"
        return self.notification(kind, "transaction", tx)

    def open_dispute(self, tx_id: str, *, status: str = "open") -> dict[str, str]:
        tx = self.transactions[tx_id]
        dispute = {
            "id": "dp" + self._id(),
            "amount": tx["amount"],
            "kind": "chargeback",
            "status": status,
            "reason": "fraud",
            "currency_iso_code": "USD",
            "transaction": {"id": tx_id, "amount": tx["amount"]},
        }
        kind = {"open": "dispute_opened", "won": "dispute_won", "lost": "dispute_lost"}[status]
        return self.notification(kind, "dispute", dispute)

    async def deliver(self, url: str, notification: dict[str, Any]) -> int:
        """POST a notification as Braintree does (form fields bt_signature, bt_payload)."""
        notification = {
            k: v.decode() if isinstance(v, bytes) else v for k, v in notification.items()
        }
        self.last_delivery = (url, notification)
        async with aiohttp.ClientSession() as session, session.post(url, data=notification) as resp:
            await resp.read()
            return resp.status

    async def redeliver(self) -> int:
        assert self.last_delivery is not None
        url, notification = self.last_delivery
        return await self.deliver(url, notification)

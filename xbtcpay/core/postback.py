"""Postbacks: the body shops receive, its signature, and the durable delivery worker.

Body: the original 0xBTCpay's ``{id, data, tx_hash}`` (``data`` is the shop's data as a
JSON-encoded string, exactly as the original sent it) plus ``event``, ``event_id``,
``status``, ``amount``, ``amount_received``, ``paid_at``, ``asset`` and flags.

Signature header: ``X-Xbtcpay-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>``.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import random
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import aiohttp
import structlog
import yarl

from xbtcpay.core.amounts import format_amount
from xbtcpay.core.invoices import invoice_of
from xbtcpay.core.models import CRYPTO, Payment, Postback
from xbtcpay.core.persistence import PostbackRepository
from xbtcpay.core.settings import PostbackConfig
from xbtcpay.core.tasks import progressed

if TYPE_CHECKING:
    from xbtcpay.core.metrics import Metrics

log = structlog.get_logger("xbtcpay.postback")
SIGNATURE_HEADER = "X-Xbtcpay-Signature"
EVENT_ID_HEADER = "X-Xbtcpay-Event-Id"
EVENT_HEADER = "X-Xbtcpay-Event"
MAX_URL_LENGTH = 2048


def display_amount(payment: Payment, value: Any) -> str:
    """Amount as shown to shops: crypto as the original printed it, fiat as plain decimal."""
    return format_amount(value) if payment.method == CRYPTO else format(value, "f")


def postback_body(p: Payment, event: str, event_id: str) -> str:
    body: dict[str, Any] = {
        "id": p.id,
        "data": p.data,
        "tx_hash": p.tx_hash,
        "event": event,
        "event_id": event_id,
        "status": p.status.value,
        "amount": display_amount(p, p.amount),
        "amount_received": display_amount(p, p.amount_received),
        "paid_at": p.paid_at,
        "seen_at": p.seen_at,
        "asset": p.asset,
        "method": p.method,
        "address": p.address,
        "order_id": p.order_id,
        "late": p.late,
        "overpaid": p.overpaid,
        "reorged": p.reorged,
    }
    if p.amount_refunded:
        body["amount_refunded"] = display_amount(p, p.amount_refunded)
    if p.reason:
        body["reason"] = p.reason
    if p.product:
        body["product"] = p.product
    if p.customer:
        body["customer"] = p.customer
    invoice = invoice_of(p)
    if invoice is not None:  # priced in fiat: the price, and what paid it at which rate
        picked = invoice.get("picked")
        body["price"] = invoice["price"]
        body["currency"] = invoice["currency"]
        body["underpaid"] = bool(p.extra.get("underpaid"))
        body["paid_option"] = None if picked is None else _paid_option(picked)
    return json.dumps(body, separators=(",", ":"))


def _paid_option(picked: Mapping[str, Any]) -> dict[str, Any]:
    """The chosen option as the shop's books need it: asset, amount, the rate with its
    sources and their times, and when the quote was made."""
    return {
        key: picked[key]
        for key in ("asset", "amount", "rate", "rate_at", "sources", "quoted_at")
        if key in picked
    }


def sign(secret: str, body: str, timestamp: int) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}.{body}".encode(), hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def verify(
    secret: str, body: str, header: str, *, tolerance: int = 300, now: float | None = None
) -> bool:
    """Receiver-side check (documented recipe): HMAC matches and timestamp is fresh."""
    try:
        parts = dict(item.split("=", 1) for item in header.split(","))
        timestamp = int(parts["t"])
    except (ValueError, KeyError):
        return False
    if abs((now if now is not None else time.time()) - timestamp) > tolerance:
        return False
    expected = sign(secret, body, timestamp).split("v1=", 1)[1]
    return hmac.compare_digest(expected, parts.get("v1", ""))


# Markup in HTML (the checkout page renders ``return_url``) and what no HTTP client sends.
_FORBIDDEN_URL_CHARACTERS = frozenset('"<>\\')


def valid_postback_url(url: object) -> bool:
    """http(s) URL with a host, at most 2048 characters, that the HTTP client can send.

    Parsed as aiohttp's ``yarl`` parses it (``urlsplit`` reads ``http://\\127.0.0.1/`` as
    another host than the client would); quotes, angle brackets, backslashes, whitespace
    and control characters are refused, so the URL is also safe inside an HTML attribute.
    """
    if not isinstance(url, str) or not url or len(url) > MAX_URL_LENGTH:
        return False
    if any(c in _FORBIDDEN_URL_CHARACTERS or c.isspace() or not c.isprintable() for c in url):
        return False
    try:
        parsed = yarl.URL(url)
        port = parsed.explicit_port
    except ValueError:
        return False
    del port
    return parsed.scheme in ("http", "https") and bool(parsed.host)


class PostbackSender:
    """Delivers the outbox at least once, with exponential backoff, per-host isolation."""

    def __init__(
        self,
        config: PostbackConfig,
        store: PostbackRepository,
        session: aiohttp.ClientSession,
        metrics: Metrics | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.store = store
        self.session = session
        self.metrics = metrics
        self.clock = clock
        self.wake = asyncio.Event()
        self._in_flight: set[int] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._global = asyncio.Semaphore(config.concurrency)
        self._per_host: dict[str, asyncio.Semaphore] = {}
        self.host_limit = max(1, config.concurrency // 4)

    def notify(self) -> None:
        self.wake.set()

    async def run(self) -> None:
        """Deliver forever; re-raises CancelledError."""
        try:
            while True:
                await self._dispatch_due()
                await self._sleep_until_due()
                progressed()  # a later crash backs off from the start again
        finally:
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _dispatch_due(self) -> None:
        due = await self.store.due(self.clock(), 200, self._in_flight)
        for pb in due:
            self._in_flight.add(pb.id)
            task = asyncio.create_task(self._deliver_guarded(pb))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _sleep_until_due(self) -> None:
        next_at = await self.store.next_due_at()
        delay = 1.0 if next_at is None else min(1.0, max(0.0, next_at - self.clock()))
        self.wake.clear()
        try:
            # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation that
            # races with the event firing, and the worker would never stop.
            async with asyncio.timeout(max(delay, 0.01)):
                await self.wake.wait()
        except TimeoutError:
            pass

    async def _deliver_guarded(self, pb: Postback) -> None:
        host = urlsplit(pb.url).netloc
        host_sem = self._per_host.setdefault(host, asyncio.Semaphore(self.host_limit))
        try:
            async with host_sem, self._global:
                await self.deliver(pb)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - a storage hiccup must not kill the worker
            log.error("postback.record_failed", postback_id=pb.id, error=str(exc))
        finally:
            self._in_flight.discard(pb.id)
            self.wake.set()

    async def deliver(self, pb: Postback) -> bool:
        """One attempt; records it and schedules the next one on failure."""
        started = self.clock()
        status: int | None = None
        error: str | None = None
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "xbtcpay-postback/1",
            SIGNATURE_HEADER: sign(self.config.secret.reveal(), pb.body, int(started)),
            EVENT_ID_HEADER: pb.event_id,
            EVENT_HEADER: pb.event,
        }
        try:
            timeout = aiohttp.ClientTimeout(total=self.config.timeout)
            async with self.session.post(
                pb.url,
                data=pb.body.encode(),
                headers=headers,
                timeout=timeout,
                allow_redirects=False,
            ) as resp:
                status = resp.status
                await resp.content.read(4096)
        except asyncio.CancelledError:
            raise
        except TimeoutError:
            error = "timeout"
        except (aiohttp.ClientError, OSError, ValueError) as exc:
            error = type(exc).__name__ + (f": {exc}" if str(exc) else "")
        ok = status is not None and 200 <= status < 300
        finished = self.clock()
        outcome, next_at = self._schedule(pb, ok, finished)
        await self.store.record_attempt(
            pb.id,
            at=started,
            duration_ms=int((finished - started) * 1000),
            http_status=status,
            error=error,
            outcome=outcome,
            next_attempt_at=next_at,
        )
        log_fn = log.info if ok else log.warning
        log_fn(
            "postback." + ("delivered" if ok else "attempt_failed"),
            postback_id=pb.id,
            payment_id=pb.payment_id,
            event_id=pb.event_id,
            http_status=status,
            error=error,
            attempt=pb.attempts + 1,
            outcome=outcome,
        )
        if self.metrics is not None:
            self.metrics.postback_attempt(ok, outcome)
        return ok

    def _schedule(self, pb: Postback, ok: bool, now: float) -> tuple[str, float | None]:
        if ok:
            return "delivered", None
        delay = min(self.config.base_delay * 2**pb.attempts, self.config.max_delay)
        delay *= random.uniform(0.8, 1.2)
        if now + delay > pb.created_at + self.config.max_age:
            return "failed", None
        return "pending", now + delay

"""Server-Sent Events for checkout pages, fed by the daemon's change feed.

Each open page holds one ``Stream``: a slot for the newest message and an event to wake its
handler. A change renders the payment's status.json document once and drops it into every
stream of that payment; a slow reader only ever misses intermediate states, never the
latest one, and costs one slot, not a queue. New chain heads re-render payments whose
confirmations are counting.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from aiohttp import web

from xbtcpay.core.models import CRYPTO, Payment
from xbtcpay.core.state import State

MAX_STREAMS = 20_000  # per process; beyond it pages fall back to polling status.json
Render = Callable[[Payment], bytes]


def sse_message(body: bytes, event: str = "status") -> bytes:
    return b"event: " + event.encode() + b"\ndata: " + body + b"\n\n"


@dataclass(eq=False)
class Stream:
    """One subscriber: the newest message not yet written, and a wake-up."""

    pending: bytes | None = None
    closed: bool = False
    wake: asyncio.Event = field(default_factory=asyncio.Event)

    def push(self, message: bytes | None) -> None:
        if message is None:
            self.closed = True
        else:
            self.pending = message
        self.wake.set()

    def take(self) -> bytes | None:
        message, self.pending = self.pending, None
        self.wake.clear()
        return message


class LiveHub:
    """Streams by payment id; subscribe it to a ``PaymentFeed``."""

    def __init__(self, render: Render, max_streams: int = MAX_STREAMS) -> None:
        self.render = render
        self.max_streams = max_streams
        self.streams: dict[str, set[Stream]] = {}
        self.latest: dict[str, Payment] = {}
        self.count = 0
        self.head: int | None = None

    def open(self, payment: Payment) -> Stream | None:
        """A stream that starts with the payment's current document; None when full."""
        if self.count >= self.max_streams:
            return None
        stream = Stream()
        self.streams.setdefault(payment.id, set()).add(stream)
        self.latest.setdefault(payment.id, payment)
        self.count += 1
        stream.push(sse_message(self.render(self.latest[payment.id])))
        return stream

    def catch_up(self, payment: Payment) -> None:
        """``payment`` as re-read after ``open``: send it if a change slipped in between the
        handler's first read and its subscription (the feed then had no stream to tell)."""
        known = self.latest.get(payment.id)
        if known is not None and payment.version > known.version:
            self.latest[payment.id] = payment
            self._send(payment)

    def close(self, payment_id: str, stream: Stream) -> None:
        streams = self.streams.get(payment_id)
        if streams is None or stream not in streams:
            return
        streams.discard(stream)
        self.count -= 1
        if not streams:
            del self.streams[payment_id]
            self.latest.pop(payment_id, None)

    def on_payment(self, payment: Payment, event: str) -> None:
        """Feed listener: a committed change of ``payment``."""
        if payment.id in self.streams:
            self.latest[payment.id] = payment
            self._send(payment)

    def on_head(self, number: int) -> None:
        """Feed listener: confirmations of funds seen but not yet paid count up."""
        if number == self.head:
            return
        self.head = number
        for payment in list(self.latest.values()):
            if payment.method == CRYPTO and payment.status == State.SEEN and payment.tx_block:
                self._send(payment)

    def shutdown(self) -> None:
        """End every stream (the daemon stops; pages reconnect or poll)."""
        for streams in self.streams.values():
            for stream in streams:
                stream.push(None)

    def _send(self, payment: Payment) -> None:
        message = sse_message(self.render(payment))
        for stream in self.streams.get(payment.id, ()):
            stream.push(message)


async def pump(
    response: web.StreamResponse,
    stream: Stream,
    heartbeat: float,
    still_allowed: Callable[[], Awaitable[bool]] | None = None,
) -> None:
    """Write ``stream``'s messages to a prepared event-stream response until it closes; a
    keep-alive comment after ``heartbeat`` idle seconds, once ``still_allowed`` (if given)
    says the reader may go on (a dashboard session that ended stops its stream)."""
    await response.write(b"retry: 3000\n\n")
    while not stream.closed:
        message = stream.take()
        if message is not None:
            await response.write(message)
            continue
        try:
            async with asyncio.timeout(heartbeat):
                await stream.wake.wait()
        except TimeoutError:
            if still_allowed is not None and not await still_allowed():
                return
            await response.write(b": keep-alive\n\n")

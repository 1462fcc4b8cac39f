"""Live dashboard pages: Server-Sent Events from the daemon's change feed.

The overview follows every payment, a payment's page its own. A message names the payment,
its status and version; the page's script then fetches the page again and swaps its main
content (a page without script shows the state it was loaded with). The feed carries the
changes of every replica (``xbtcpay.web.status_feed`` on a shared database), so an open page
follows a payment whichever replica changed it. A slow reader keeps only the newest message.
"""

from __future__ import annotations

import json

from xbtcpay.core.models import Payment
from xbtcpay.web.live import Stream, sse_message

MAX_STREAMS = 1_000  # open dashboard pages per process; more are answered 503


class DashboardLive:
    def __init__(self, max_streams: int = MAX_STREAMS) -> None:
        self.max_streams = max_streams
        self.streams: dict[Stream, str | None] = {}  # stream -> the payment it follows

    def open(self, payment_id: str | None) -> Stream | None:
        """A stream of the changes of ``payment_id`` (None: of every payment)."""
        if len(self.streams) >= self.max_streams:
            return None
        stream = Stream()
        self.streams[stream] = payment_id
        return stream

    def close(self, stream: Stream) -> None:
        self.streams.pop(stream, None)

    def on_payment(self, payment: Payment, event: str) -> None:
        """Feed listener: a committed change of ``payment``, here or on another replica."""
        if not self.streams:
            return
        body = json.dumps(
            {"id": payment.id, "status": payment.status.value, "version": payment.version}
        ).encode()
        message = sse_message(body, "change")
        for stream, follows in list(self.streams.items()):
            if follows is None or follows == payment.id:
                stream.push(message)

    def shutdown(self) -> None:
        for stream in list(self.streams):
            stream.push(None)

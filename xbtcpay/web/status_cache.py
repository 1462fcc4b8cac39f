"""Encoded status.json bodies, kept until the payment changes.

The processor is the only writer of payment state and calls ``invalidate`` after each
committed change. A body read before a change can never be stored after it: every
invalidation bumps ``epoch`` and ``put`` refuses a body whose read began in an older epoch.
Bodies that show live confirmations are tagged with the chain head they were built at.

A body that does not depend on the head (no transaction in a block yet: a new payment, say)
is kept as the rendering still to do, from the committed payment, and rendered when it is
first asked for: the same bytes as rendering it at once (the payment is frozen and nothing
else goes into it), but a payment created and never polled costs no rendering at all, and
``start_payment`` answers sooner.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any

from xbtcpay.core.models import CRYPTO, Payment
from xbtcpay.core.postback import display_amount

if TYPE_CHECKING:
    from xbtcpay.core.chain_head import ChainHead
    from xbtcpay.core.feed import PaymentListener
    from xbtcpay.core.methods import CoreMethods
    from xbtcpay.storage.payments import PaymentStore
    from xbtcpay.web.settings import PageSettings


# json.dumps with arguments builds a new encoder per call; one shared encoder writes the same
# text (compact separators, ASCII escapes) in about half the time on the cache-miss path.
_COMPACT = json.JSONEncoder(separators=(",", ":")).encode


def status_document(
    config: PageSettings, core: CoreMethods, p: Payment, head: int | None
) -> dict[str, Any]:
    """The original's five fields with their meaning, then the extra fields."""
    required: int | str | None = None
    confirmations = 0
    if p.method == CRYPTO and p.asset in config.assets:
        required = config.confirmations_for(p.asset)
        if p.tx_block is not None and head is not None:
            # a transaction in a block has at least that block's confirmation, even when the
            # head this replica last heard of is older than the block the watcher just read
            confirmations = max(1, head - p.tx_block + 1)
    return {
        "address": p.address,
        "amount": display_amount(p, p.amount),
        "seen_at": p.seen_at,
        "paid_at": p.paid_at,
        "tx_hash": p.tx_hash,
        "status": p.status.value,
        "asset": p.asset,
        "method": p.method,
        "confirmations": confirmations,
        "required_confirmations": required,
        "amount_received": display_amount(p, p.amount_received),
        "expires_at": p.expires_at,
        "payment_uri": core.payment_uri(p),
        "late": p.late,
        "overpaid": p.overpaid,
        "reorged": p.reorged,
        **core.chain_fields(p),
        **core.invoice_fields(p),
    }


def head_of(config: PageSettings, head: ChainHead, p: Payment) -> int | None:
    """The head of the chain ``p`` is paid on (the primary chain's for other payments)."""
    chain = config.chain_of(p.asset) if p.method == CRYPTO else None
    return head.number if chain is None else head.number_of(chain.key)


def render_status(
    config: PageSettings, core: CoreMethods, p: Payment, head: int | None
) -> tuple[bytes, bool]:
    """(encoded body, whether it shows live confirmations and so depends on the head)."""
    body = _COMPACT(status_document(config, core, p, head)).encode()
    return body, is_live(p)


def is_live(p: Payment) -> bool:
    """Whether ``p``'s body shows confirmations, and so depends on the chain head."""
    return p.tx_block is not None and p.method == CRYPTO


def _body_of(config: PageSettings, core: CoreMethods, p: Payment, head: int | None) -> bytes:
    return render_status(config, core, p, head)[0]


Body = bytes | Callable[[], bytes]  # a body, or the rendering of one not asked for yet


async def read_status(
    cache: StatusCache,
    payments: PaymentStore,
    config: PageSettings,
    core: CoreMethods,
    head: ChainHead,
    payment_id: str,
) -> bytes | None:
    """The body of ``payment_id``'s status.json (None: no such payment): from the cache, or
    read from the database, rendered and cached. The one definition of a cache miss, for the
    public application's handler and the fast path in front of it."""
    mark = head.mark
    body = cache.get(payment_id, mark)
    if body is None:
        epoch = cache.epoch
        payment = await payments.get(payment_id)
        if payment is None:
            return None
        body, live = render_status(config, core, payment, head_of(config, head, payment))
        cache.put(payment_id, body, live=live, head=mark, read_epoch=epoch)
    return body


@dataclass
class StatusCache:
    max_entries: int = 100_000  # about 65 MB of bodies at most (public.status_cache_size)
    epoch: int = 0
    trusted: bool = True  # False while the change feed cannot read (see ``suspend``)
    _bodies: dict[str, tuple[Body, bool, int | None]] = field(default_factory=dict)

    def get(self, payment_id: str, head: int | None) -> bytes | None:
        entry = self._bodies.get(payment_id) if self.trusted else None
        if entry is None or (entry[1] and entry[2] != head):
            return None
        body = entry[0]
        if not isinstance(body, bytes):  # first asked for: render it now, keep the bytes
            body = body()
            self._bodies[payment_id] = (body, entry[1], entry[2])
        return body

    def put(
        self, payment_id: str, body: bytes, *, live: bool, head: int | None, read_epoch: int
    ) -> None:
        """Store ``body``; a ``live`` body (confirmations) is valid only at ``head``."""
        if read_epoch != self.epoch or self.max_entries == 0 or not self.trusted:
            return
        if len(self._bodies) >= self.max_entries:
            self._bodies.pop(next(iter(self._bodies)))
        self._bodies[payment_id] = (body, live, head)

    def replace(self, payment_id: str, body: Body, *, live: bool, head: int | None) -> None:
        """The processor's post-commit view of a payment: newer than any read in flight
        (``body`` may be its rendering, done on the first ``get``)."""
        self.epoch += 1
        self._bodies.pop(payment_id, None)
        if self.max_entries == 0 or not self.trusted:
            return
        if len(self._bodies) >= self.max_entries:
            self._bodies.pop(next(iter(self._bodies)))
        self._bodies[payment_id] = (body, live, head)

    def invalidate(self, payment_id: str) -> None:
        self.epoch += 1
        self._bodies.pop(payment_id, None)

    def suspend(self) -> None:
        """Drop every body and cache nothing until ``resume``: the change feed could not
        read, so changes committed by other replicas may be going unseen."""
        self.trusted = False
        self.epoch += 1
        self._bodies.clear()

    def resume(self) -> None:
        """The feed has caught up: cache again (reads begun while suspended stay out)."""
        if not self.trusted:
            self.trusted = True
            self.epoch += 1

    def __len__(self) -> int:
        return len(self._bodies)


def refresh_on_transition(
    cache: StatusCache, config: PageSettings, core: CoreMethods, head: ChainHead
) -> PaymentListener:
    """The transition listener that re-renders a changed payment's body from the committed
    payment, so browsers polling an open payment are answered from memory."""

    def refresh(payment: Payment, event: str) -> None:
        at = head_of(config, head, payment)
        if is_live(payment):
            body, live = render_status(config, core, payment, at)
            cache.replace(payment.id, body, live=live, head=head.mark)
        else:  # the same bytes whenever rendered: render on the first poll, if one comes
            cache.replace(
                payment.id, partial(_body_of, config, core, payment, at), live=False, head=head.mark
            )

    return refresh


async def warm_status_cache(
    cache: StatusCache,
    payments: PaymentStore,
    config: PageSettings,
    core: CoreMethods,
    head: ChainHead,
    batch: int = 2000,
) -> int:
    """Render status.json of open payments into the cache (``public.status_cache_warm``)."""
    done = 0
    while done < cache.max_entries:
        epoch = cache.epoch
        rows = await payments.search(status="new", limit=batch, offset=done)
        if not rows:
            break
        for p in rows:
            body, live = render_status(config, core, p, head_of(config, head, p))
            cache.put(p.id, body, live=live, head=head.mark, read_epoch=epoch)
        done += len(rows)
        await asyncio.sleep(0)
    return done

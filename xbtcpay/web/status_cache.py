"""Encoded status.json bodies, kept until the payment changes.

The processor is the only writer of payment state and calls ``invalidate`` after each
committed change. A body read before a change can never be stored after it: every
invalidation bumps ``epoch`` and ``put`` refuses a body whose read began in an older epoch.
Bodies that show live confirmations are tagged with the chain head they were built at.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class StatusCache:
    max_entries: int = 200_000
    epoch: int = 0
    _bodies: dict[str, tuple[bytes, bool, int | None]] = field(default_factory=dict)

    def get(self, payment_id: str, head: int | None) -> bytes | None:
        entry = self._bodies.get(payment_id)
        if entry is None or (entry[1] and entry[2] != head):
            return None
        return entry[0]

    def put(self, payment_id: str, body: bytes, *, live: bool, head: int | None,
            read_epoch: int) -> None:
        """Store ``body``; a ``live`` body (confirmations) is valid only at ``head``."""
        if read_epoch != self.epoch:
            return
        if len(self._bodies) >= self.max_entries:
            self._bodies.pop(next(iter(self._bodies)))
        self._bodies[payment_id] = (body, live, head)

    def invalidate(self, payment_id: str) -> None:
        self.epoch += 1
        self._bodies.pop(payment_id, None)

    def __len__(self) -> int:
        return len(self._bodies)

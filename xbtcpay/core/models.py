"""Domain records: a payment, an event applied to it, a postback in the outbox."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from xbtcpay.core.amounts import to_decimal
from xbtcpay.core.state import Event, State

CRYPTO = "crypto"


@dataclass(frozen=True)
class Payment:
    """One payment, crypto or fiat, as stored.

    ``amount``/``amount_received`` are exact decimals in the asset's unit (0xBTC, ETH) or
    the fiat currency. ``data`` is the shop's data as JSON text, stored exactly as the
    original 0xBTCpay stored it (``params.data`` serialised, ``"null"`` when absent).
    """

    id: str
    method: str  # "crypto" or the plugin name ("stripe", ...)
    asset: str  # asset name (0xbtc, eth) or ISO currency (USD)
    amount: Decimal
    status: State
    created_at: int
    data: str = "null"
    amount_received: Decimal = Decimal(0)
    address: str | None = None  # lowercase 0x address for crypto payments
    derivation_index: int | None = None
    postback_url: str | None = None
    postback_events: tuple[str, ...] | None = None
    order_id: str | None = None
    request_hash: str | None = None
    product: str | None = None
    customer: str | None = None
    provider_ref: str | None = None
    expires_at: int | None = None
    seen_at: int | None = None
    paid_at: int | None = None
    tx_hash: str | None = None
    tx_block: int | None = None
    late: bool = False
    overpaid: bool = False
    reorged: bool = False
    amount_refunded: Decimal = Decimal(0)
    reason: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)
    version: int = 0
    updated_at: int = 0

    @property
    def data_value(self) -> Any:
        """The shop's data decoded (the JSON text parsed)."""
        return json.loads(self.data, parse_float=Decimal)


@dataclass(frozen=True)
class PaymentEvent:
    """Something that happened to a payment, reported by the watcher, a plugin or the shop.

    ``dedupe_key`` makes reporting idempotent: an event whose key was applied before is
    ignored (webhook replays, re-scanned blocks). Optional fields update the payment.
    """

    kind: Event
    dedupe_key: str | None = None
    at: int | None = None
    amount_received: Decimal | None = None
    amount_refunded: Decimal | None = None
    tx_hash: str | None = None
    tx_block: int | None = None
    provider_ref: str | None = None
    reason: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)
    source: str = "core"
    # an invoice priced in fiat becomes a payment of the option its first funds chose
    asset: str | None = None
    amount: Decimal | None = None


@dataclass(frozen=True)
class NewPayment:
    """What a caller asks for; the processor fills in id, address and timestamps."""

    method: str
    asset: str
    amount: Decimal
    data: str = "null"
    postback_url: str | None = None
    postback_events: tuple[str, ...] | None = None
    order_id: str | None = None
    expires_in: int | None = None
    product: str | None = None
    customer: str | None = None
    provider_ref: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)
    created_at: int | None = None  # None: when the processor stores it


@dataclass(frozen=True)
class ApplyResult:
    """Outcome of ``PaymentProcessor.apply``."""

    payment: Payment
    changed: bool  # False: duplicate (dedupe_key seen) or refused transition
    duplicate: bool = False
    event_id: str | None = None


@dataclass(frozen=True)
class Postback:
    id: int
    event_id: str
    payment_id: str
    event: str
    url: str
    body: str
    status: str  # pending | delivered | failed
    attempts: int
    next_attempt_at: float
    created_at: float
    delivered_at: float | None = None
    last_status: int | None = None
    last_error: str | None = None


def decimal_of(value: str | None) -> Decimal:
    return to_decimal(value) if value else Decimal(0)

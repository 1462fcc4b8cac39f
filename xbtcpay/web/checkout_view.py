"""What the checkout page shows for one payment, decided without I/O.

``view_of`` turns a payment (and the chain head, the clock) into a ``CheckoutView``: which
of the page's states applies, the amounts as text with their unit, and the facts each
state needs. The HTML is rendered from it in ``checkout_html``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from xbtcpay.core.models import CRYPTO, Payment
from xbtcpay.core.postback import display_amount, valid_postback_url
from xbtcpay.core.state import State

if TYPE_CHECKING:
    from xbtcpay.core.methods import CoreMethods
    from xbtcpay.web.settings import PageSettings

OPEN, PARTIAL, CONFIRMING, PAID, EXPIRED, CLOSED, PROVIDER = (
    "open",
    "partial",
    "confirming",
    "paid",
    "expired",
    "closed",
    "provider",
)
LIVE_KINDS = frozenset({OPEN, PARTIAL, CONFIRMING, PROVIDER})


@dataclass(frozen=True)
class OptionView:
    """One way to pay an invoice priced in fiat: an asset on a network, at a rate."""

    asset: str
    unit: str  # the asset's symbol ("USDC")
    network: str  # the chain's display name
    chain_id: int
    amount: str  # "19.99" (without unit)
    rate: str  # CURRENCY per one unit of the asset
    payment_uri: str | None


@dataclass(frozen=True)
class CheckoutView:
    payment_id: str
    kind: str  # one of the constants above
    status: str  # the payment's state
    method: str
    amount: str  # "1.5 0xBTC"
    amount_plain: str  # "1.5" (what the copy button copies)
    received: str
    due: str  # what is still to pay, with unit
    due_plain: str
    address: str | None
    payment_uri: str | None
    chain_id: int
    confirmations: int
    required: int | None
    expires_at: int | None
    now: int
    late: bool
    overpaid: bool
    reorged: bool
    underpaid: bool
    fiat: str | None  # "12.50 EUR" when the shop gave a price
    return_url: str | None
    receipt_url: str | None
    tx_hash: str | None
    network: str = ""  # the display name of the payment's chain ("Base")
    delayed: bool = False  # every node of its chain is stale: confirmations are delayed
    # an invoice priced in fiat: its price first, its options, the one shown, the quote's end
    price: str | None = None  # "19.99 USD"
    currency: str = ""
    options: tuple[OptionView, ...] = ()
    option: str = ""  # the asset of the option shown (chosen by the customer or the funds)
    quote_expires_at: int | None = None
    paid_option: OptionView | None = None

    @property
    def choosing(self) -> bool:
        """Whether the customer still picks how to pay (an invoice with nothing seen)."""
        return bool(self.options) and self.paid_option is None and self.kind == OPEN

    @property
    def live(self) -> bool:
        """Whether the page still changes by itself (live feed, countdown, refresh)."""
        return self.kind in LIVE_KINDS


def view_of(
    config: PageSettings,
    core: CoreMethods,
    p: Payment,
    head: int | None,
    now: int,
    *,
    delayed: bool = False,
    option: str | None = None,
) -> CheckoutView:
    view = _plain_view(config, core, p, head, now, delayed)
    fields = core.invoice_fields(p)
    if not fields:
        return view
    options = tuple(_option_view(config, o) for o in fields["options"])
    picked = fields["paid_option"]
    paid = None if picked is None else _option_view(config, {**picked, "payment_uri": None})
    invoice = replace(
        view,
        price=f"{fields['price']} {fields['currency']}",
        currency=fields["currency"],
        options=options,
        option=p.asset,
        quote_expires_at=fields["quote_expires_at"],
        paid_option=paid,
        underpaid=view.underpaid or bool(fields["underpaid"]),
    )
    if not invoice.choosing:
        return invoice
    shown = next((o for o in options if o.asset == option), options[0])
    amount = f"{shown.amount} {shown.unit}"
    return replace(
        invoice,
        option=shown.asset,
        amount=amount,
        amount_plain=shown.amount,
        due=amount,
        due_plain=shown.amount,
        payment_uri=shown.payment_uri,
        chain_id=shown.chain_id,
        network=shown.network,
        required=_required(config, shown.asset),
    )


def _required(config: PageSettings, asset: str) -> int | None:
    wanted = config.confirmations_for(asset)
    return wanted if isinstance(wanted, int) else None


def _option_view(config: PageSettings, option: Mapping[str, Any]) -> OptionView:
    asset = str(option["asset"])
    spec = config.assets.get(asset)
    chain = config.chain_of(asset) or config.chain
    return OptionView(
        asset=asset,
        unit=spec.symbol if spec is not None and spec.symbol else asset.upper(),
        network=chain.name,
        chain_id=chain.chain_id,
        amount=str(option["amount"]),
        rate=str(option["rate"]),
        payment_uri=option.get("payment_uri"),
    )


def _plain_view(
    config: PageSettings,
    core: CoreMethods,
    p: Payment,
    head: int | None,
    now: int,
    delayed: bool,
) -> CheckoutView:
    unit = _unit(config, p)
    due = p.amount - p.amount_received if p.amount_received < p.amount else Decimal(0)
    required = config.confirmations_for(p.asset) if _is_crypto(config, p) else None
    confirmations = 0
    if p.tx_block is not None and head is not None:
        confirmations = max(1, head - p.tx_block + 1)  # as status.json: a block counts itself
    chain = (config.chain_of(p.asset) if p.method == CRYPTO else None) or config.chain
    return CheckoutView(
        payment_id=p.id,
        kind=_kind(config, p),
        status=p.status.value,
        method=p.method,
        amount=_with_unit(display_amount(p, p.amount), unit),
        amount_plain=display_amount(p, p.amount),
        received=_with_unit(display_amount(p, p.amount_received), unit),
        due=_with_unit(display_amount(p, due), unit),
        due_plain=display_amount(p, due),
        address=p.address,
        payment_uri=core.payment_uri(p),
        chain_id=chain.chain_id,
        network=chain.name,
        confirmations=confirmations,
        required=required if isinstance(required, int) else None,
        expires_at=p.expires_at,
        now=now,
        late=p.late,
        overpaid=p.overpaid,
        reorged=p.reorged,
        underpaid=Decimal(0) < p.amount_received < p.amount,
        fiat=_fiat(p),
        return_url=_link(p, "return_url"),
        receipt_url=_link(p, "receipt_url"),
        tx_hash=p.tx_hash,
        delayed=delayed,
    )


def _is_crypto(config: PageSettings, p: Payment) -> bool:
    return p.method == CRYPTO and p.asset in config.assets


def _kind(config: PageSettings, p: Payment) -> str:
    if p.status == State.PAID:
        return PAID
    if p.status == State.EXPIRED:
        return EXPIRED
    if p.status not in (State.NEW, State.SEEN):
        return CLOSED
    if not _is_crypto(config, p):
        return PROVIDER
    if p.status == State.SEEN and p.amount_received >= p.amount:
        return CONFIRMING
    if p.amount_received > 0:
        return PARTIAL
    return OPEN


def _unit(config: PageSettings, p: Payment) -> str:
    asset = config.assets.get(p.asset) if p.method == CRYPTO else None
    return asset.symbol if asset is not None and asset.symbol else p.asset.upper()


def _with_unit(amount: str, unit: str) -> str:
    return f"{amount} {unit}"


def _link(p: Payment, key: str) -> str | None:
    """An http(s) URL the payment carries (return_url, a plugin's receipt_url) or None."""
    value = p.extra.get(key)
    return value if valid_postback_url(value) else None


def _fiat(p: Payment) -> str | None:
    price = p.extra.get("fiat")
    if not isinstance(price, dict):
        return None
    amount, currency = price.get("amount"), price.get("currency")
    if isinstance(amount, str) and isinstance(currency, str):
        return f"{amount} {currency}"
    return None

"""The money movements of a period, read from the modules that own each table.

One ``Movement`` per row of the CSV and per transaction of the journal. The kinds today:
crypto payments received (one per deposit credited to a payment), provider payments,
finished media transactions, subscription renewals, receipts and credit notes, customer ledger entries, sweeps and their gas,
confirmed crypto refunds (payouts) and their gas. Stray deposits are a future kind: one more
reader here and one more rule in ``accounts``; nothing else changes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Any

from xbtcpay.commerce.currencies import Currencies
from xbtcpay.commerce.media_access import subscription_store, transactions
from xbtcpay.commerce.purchases.ledger import Entry, LedgerReader
from xbtcpay.commerce.purchases.receipts import CREDIT_NOTE, Receipt, ReceiptReader
from xbtcpay.core.errors import InvalidParams
from xbtcpay.core.models import Payment
from xbtcpay.core.persistence import Engine
from xbtcpay.core.settings import AssetConfig
from xbtcpay.storage.chain_store import ChainStore
from xbtcpay.storage.payments import PaymentStore
from xbtcpay.storage.refunds import Refund, RefundStore
from xbtcpay.sweep.records import ConfirmedSweep, SweepStore

CRYPTO_PAYMENT = "crypto_payment"
PROVIDER_PAYMENT = "provider_payment"
SUBSCRIPTION_PAYMENT = "subscription_payment"
MEDIA_TRANSACTION = "media_transaction"
RECEIPT = "receipt"
CREDIT = CREDIT_NOTE
LEDGER_ENTRY = "ledger_entry"
SWEEP = "sweep"
SWEEP_GAS = "sweep_gas"
REFUND = "refund"  # a confirmed crypto refund: the payout that sent it
PAYOUT_GAS = "payout_gas"
GAS_ASSET = "eth"  # sweeps pay gas in the chain's native coin

# A rate for (asset, fiat currency) at export time, or None when there is none.
RateLookup = Callable[[str, str], Awaitable[Decimal | None]]


@dataclass(frozen=True)
class Fiat:
    amount: Decimal
    currency: str
    source: str  # "payment" (its own fiat price), "own" (already fiat), "rate" (export
    # time), "refund" (the fiat amount a refund was asked in)


@dataclass(frozen=True)
class Movement:
    """One money movement. ``amount`` is signed as the shop sees it: positive when the
    shop receives or issues, negative for credit notes and ledger debits."""

    at: int
    kind: str
    asset: str  # xbtcpay's name: an asset (0xbtc) or a currency (AUD, diamonds)
    amount: Decimal
    method: str = ""
    chain: str = ""
    fiat: Fiat | None = None
    payment_id: str = ""
    receipt_number: str = ""
    original_number: str = ""
    tx_hash: str = ""
    sweep_id: str = ""
    customer: str = ""
    tax: Decimal | None = None
    tax_country: str = ""
    ledger_kind: str = ""
    reference: str = ""  # the provider's reference (subscription payments, media transactions)
    has_receipt: bool = False  # the payment has a receipt (its sale is booked there)
    overpaid: bool = False
    stray: bool = False  # a refund of a stray deposit (never part of a sale)


@dataclass(frozen=True)
class Sources:
    """The readers of each table's owner, built from one database engine."""

    payments: PaymentStore
    deposits: ChainStore
    receipts: ReceiptReader
    ledger: LedgerReader
    sweeps: SweepStore
    db: Engine
    refunds: RefundStore | None = (
        None  # for the module-level period reads of the media access tables
    )


class Decimals:
    """Minor-unit digits of every name a movement can carry: commerce currencies first
    (ISO 4217 and the shop's virtual ones, as balances are read), then assets."""

    def __init__(
        self,
        currencies: Currencies,
        assets: Mapping[str, AssetConfig],
        default_chain: str = "main",
    ) -> None:
        self.currencies = currencies
        self.assets = assets
        self.default_chain = default_chain  # the chain of assets that name none

    def chain_of(self, asset: str) -> str:
        """The key of the chain an asset is paid and swept on."""
        spec = self.assets.get(asset)
        return (spec.chain if spec is not None else None) or self.default_chain

    def of(self, code: str) -> int:
        found = self.currencies.get(code)
        if found is not None:
            return found.decimals
        asset = self.assets.get(code)
        if asset is None:
            # never guess a scale: 10**18 base units are not 10**18 coins
            raise InvalidParams(
                f"movements in {code!r}, which is neither a configured asset nor a currency:"
                " configure it again to export this period"
            )
        return asset.decimals

    def is_fiat(self, code: str) -> bool:
        found = self.currencies.get(code)
        return found is not None and not found.virtual and code not in self.assets


async def collect(
    sources: Sources,
    start: int,
    end: int,
    decimals: Decimals,
    currency: str | None,
    rate: RateLookup | None,
) -> list[Movement]:
    """Every movement of ``[start, end)``, oldest first."""
    valuer = _Valuer(decimals, currency, rate)
    out: list[Movement] = []
    deposits = await sources.deposits.recorded_between(start, end)
    providers = await sources.payments.provider_paid_between(start, end)
    payments = await sources.payments.get_many([d.payment_id for d, _ in deposits])
    ids = list(payments) + [p.id for p in providers]
    with_receipt = await sources.receipts.with_receipt(ids)
    for deposit, at in deposits:
        p = payments.get(deposit.payment_id)
        amount = Decimal(deposit.units).scaleb(-decimals.of(deposit.asset))
        out.append(
            Movement(
                at,
                CRYPTO_PAYMENT,
                deposit.asset,
                amount,
                method="crypto",
                chain=deposit.chain or decimals.chain_of(deposit.asset),
                fiat=await valuer.payment_share(p, deposit.asset, amount),
                payment_id=deposit.payment_id,
                tx_hash=deposit.tx_hash or "",
                customer=(p.customer if p else None) or "",
                has_receipt=deposit.payment_id in with_receipt,
                overpaid=bool(p and p.overpaid),
            )
        )
    for p in providers:
        out.append(
            Movement(
                p.paid_at or p.updated_at,
                PROVIDER_PAYMENT,
                p.asset,
                p.amount,
                method=p.method,
                fiat=await valuer.value(p.asset, p.amount),
                payment_id=p.id,
                customer=p.customer or "",
                has_receipt=p.id in with_receipt,
            )
        )
    for t in await transactions.finished_between(sources.db, start, end):
        amount = Decimal(t.amount_minor).scaleb(-decimals.of(t.currency))
        out.append(
            Movement(
                t.finished_at,
                MEDIA_TRANSACTION,
                t.currency,
                amount,
                method=t.provider,
                fiat=await valuer.value(t.currency, amount),
                receipt_number=t.receipt_number or "",
                customer=t.customer,
                reference=t.reference or f"transaction:{t.id}",
                ledger_kind=t.operation,
                has_receipt=bool(t.receipt_number),
            )
        )
    for sp in await subscription_store.renewals_between(sources.db, start, end):
        if await _is_a_payment(sources.payments, sp.provider, sp.reference):
            continue  # a plugin recorded this renewal as a payment: exported as that payment
        amount = Decimal(sp.amount_minor).scaleb(-decimals.of(sp.currency))
        out.append(
            Movement(
                sp.at,
                SUBSCRIPTION_PAYMENT,
                sp.currency,
                amount,
                method=sp.provider,
                fiat=await valuer.value(sp.currency, amount),
                receipt_number=sp.receipt_number or "",
                customer=sp.customer,
                reference=sp.reference,
                ledger_kind=sp.kind,
                has_receipt=bool(sp.receipt_number),
            )
        )
    for r in await sources.receipts.issued_between(start, end):
        out.append(await _receipt(r, decimals, valuer))
    for e in await sources.ledger.entries_between(start, end):
        out.append(await _entry(e, decimals, valuer))
    for s in await sources.sweeps.confirmed_between(start, end):
        out += await _sweep(s, decimals, valuer)
    if sources.refunds is not None:
        refunds = await sources.refunds.confirmed_between(start, end)
        receipted = await sources.receipts.with_receipt([f.payment_id for f in refunds])
        for f in refunds:
            out += await _refund(f, f.payment_id in receipted, decimals, valuer)
    return sorted(out, key=lambda m: (m.at, _ORDER[m.kind]))


async def _is_a_payment(payments: PaymentStore, provider: str, reference: str) -> bool:
    """Whether a subscription payment is also a row of ``payments`` (App Store and Braintree
    renewals are: the plugin records a paid renewal payment, the bridge the renewal)."""
    if await payments.get_by_provider_ref(provider, reference) is not None:
        return True
    return await payments.get(reference) is not None


_ORDER = {
    CRYPTO_PAYMENT: 0,
    PROVIDER_PAYMENT: 1,
    MEDIA_TRANSACTION: 1,
    SUBSCRIPTION_PAYMENT: 1,
    RECEIPT: 2,
    CREDIT: 3,
    LEDGER_ENTRY: 4,
    SWEEP: 5,
    SWEEP_GAS: 6,
    REFUND: 7,
    PAYOUT_GAS: 8,
}


async def _receipt(r: Receipt, decimals: Decimals, valuer: _Valuer) -> Movement:
    digits = decimals.of(r.currency)
    total = Decimal(r.total).scaleb(-digits)  # a credit note's total is stored negative
    return Movement(
        r.issued_at,
        CREDIT if r.kind == CREDIT_NOTE else RECEIPT,
        r.currency,
        total,
        method=r.method,
        fiat=await valuer.value(r.currency, total),
        payment_id=r.payment_id or "",
        receipt_number=r.number,
        original_number=r.original_number or "",
        customer=r.customer or "",
        tax=Decimal(r.tax).scaleb(-digits),
        tax_country=r.tax_country or "",
    )


async def _entry(e: Entry, decimals: Decimals, valuer: _Valuer) -> Movement:
    amount = Decimal(e.amount).scaleb(-decimals.of(e.currency))
    return Movement(
        e.at,
        LEDGER_ENTRY,
        e.currency,
        amount,
        fiat=await valuer.value(e.currency, amount),
        payment_id=e.payment_id or "",
        receipt_number=e.receipt_number or "",
        customer=e.customer,
        ledger_kind=e.kind,
    )


async def _sweep(s: ConfirmedSweep, decimals: Decimals, valuer: _Valuer) -> list[Movement]:
    chain = decimals.chain_of(s.asset)
    amount = Decimal(s.units).scaleb(-decimals.of(s.asset))
    moved = Movement(
        s.at,
        SWEEP,
        s.asset,
        amount,
        chain=chain,
        fiat=await valuer.value(s.asset, amount),
        tx_hash=s.tx_hash,
        sweep_id=str(s.id),
    )
    if not s.fee_wei:
        return [moved]
    fee = Decimal(s.fee_wei).scaleb(-18)
    gas = Movement(
        s.at,
        SWEEP_GAS,
        GAS_ASSET,
        fee,
        chain=chain,
        fiat=await valuer.value(GAS_ASSET, fee),
        tx_hash=s.tx_hash,
        sweep_id=str(s.id),
    )
    return [moved, gas]


async def _refund(
    r: Refund, receipted: bool, decimals: Decimals, valuer: _Valuer
) -> list[Movement]:
    """A confirmed refund: the asset paid out (negative: it leaves the shop) and, for a
    payout wallet's transfer, the gas it cost. Its fiat value is the one it was asked in."""
    amount = -Decimal(r.units).scaleb(-decimals.of(r.asset))
    fiat = (
        Fiat(-Decimal(r.fiat_amount), r.currency, "refund")
        if r.fiat_amount is not None and r.currency is not None
        else await valuer.value(r.asset, amount)
    )
    at, tx_hash = r.confirmed_at or r.updated_at, r.tx_hash or ""
    moved = Movement(
        at,
        REFUND,
        r.asset,
        amount,
        method=r.payout_method or "",
        chain=r.chain,
        fiat=fiat,
        payment_id=r.payment_id,
        tx_hash=tx_hash,
        reference=r.id,
        has_receipt=receipted,
        stray=r.stray,
    )
    if not r.fee_wei:
        return [moved]
    fee = Decimal(r.fee_wei).scaleb(-18)
    gas = Movement(
        at,
        PAYOUT_GAS,
        GAS_ASSET,
        fee,
        chain=r.chain,
        fiat=await valuer.value(GAS_ASSET, fee),
        payment_id=r.payment_id,
        tx_hash=tx_hash,
        reference=r.id,
    )
    return [moved, gas]


class _Valuer:
    """The fiat value of an amount: the payment's own fiat price where it has one, the
    amount itself when it is already fiat, else the rate at export time (one look-up per
    asset and export), else none."""

    def __init__(self, decimals: Decimals, currency: str | None, rate: RateLookup | None) -> None:
        self.decimals = decimals
        self.currency = currency
        self.rate = rate
        self.rates: dict[str, Decimal | None] = {}

    async def payment_share(self, p: Payment | None, asset: str, amount: Decimal) -> Fiat | None:
        price = _fiat_price(p)
        if p is not None and price is not None and p.amount > 0:
            value, code = price
            return Fiat(self._round(value * amount / p.amount, code), code, "payment")
        return await self.value(asset, amount)

    async def value(self, code: str, amount: Decimal) -> Fiat | None:
        if self.decimals.is_fiat(code):
            return Fiat(amount, code.upper(), "own")
        if self.currency is None or self.rate is None:
            return None
        if code not in self.rates:
            self.rates[code] = await self.rate(code, self.currency)
        rate = self.rates[code]
        if rate is None:
            return None
        return Fiat(self._round(amount * rate, self.currency), self.currency, "rate")

    def _round(self, value: Decimal, code: str) -> Decimal:
        return value.quantize(Decimal(1).scaleb(-self.decimals.of(code)), ROUND_HALF_EVEN)


def _fiat_price(p: Payment | None) -> tuple[Decimal, str] | None:
    """``extra.fiat`` of a payment (``{amount, currency}``, checked when it was created)."""
    fiat: Any = p.extra.get("fiat") if p is not None else None
    if not isinstance(fiat, Mapping):
        return None
    try:
        amount = Decimal(str(fiat.get("amount")))
    except (InvalidOperation, ValueError):
        return None
    code = fiat.get("currency")
    if not isinstance(code, str) or not amount.is_finite():
        return None
    return amount, code.upper()

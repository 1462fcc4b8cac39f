"""``receipt.refund`` (private port): refund a purchase paid from a balance.

One unit of work writes the credit note (its own number, negative amounts, pointing at the
receipt) and the ``refund`` ledger entry crediting the balance back. A purchase paid through
a provider is refunded at the provider; its webhook writes the credit note (``settlement``).
"""

from __future__ import annotations

from collections.abc import Callable

from xbtcpay.commerce.currencies import Currencies, parse_minor
from xbtcpay.commerce.purchases import ledger, receipts
from xbtcpay.commerce.settings import CommerceConfig
from xbtcpay.core.errors import InvalidParams, NotFound
from xbtcpay.core.persistence import Engine, UnitOfWork


class Refunds:
    def __init__(
        self, config: CommerceConfig, db: Engine, currencies: Currencies, now: Callable[[], int]
    ) -> None:
        self.config = config
        self.db = db
        self.currencies = currencies
        self.now = now

    async def refund(
        self, number: str, amount: object, reason: str, key: str
    ) -> tuple[receipts.Receipt, ledger.Entry, bool]:
        """(credit note, ledger entry, written now); a replayed key returns the first."""

        async def work(uow: UnitOfWork) -> tuple[receipts.Receipt, ledger.Entry, bool]:
            earlier = await ledger.find(uow, f"refund:{key}")
            if earlier is not None:
                return await self._replay(uow, earlier, number)
            original = await receipts.by_number(uow, number)
            if original is None or original.kind != receipts.RECEIPT:
                raise NotFound("unknown receipt")
            if not original.method.startswith("balance:") or original.customer is None:
                raise InvalidParams(
                    f"{number} was paid with {original.method}: refund it at "
                    "the provider, whose notice writes the credit note"
                )
            currency = self.currencies.get(original.currency)
            assert currency is not None
            notes = await receipts.credit_notes(uow, number)
            left = original.total + sum(n.total for n in notes)
            try:
                units = left if amount is None else parse_minor(currency, amount)
            except ValueError as exc:
                raise InvalidParams(f"amount: {exc}") from None
            if not 0 < units <= left:
                raise InvalidParams(f"amount: at most {currency.format(left)} is left to refund")
            posting = ledger.Posting(
                original.customer,
                currency.code,
                units,
                ledger.Kind.REFUND,
                f"refund:{key}",
                self.now(),
                reason=reason,
            )
            after, seq = await ledger.move(uow, posting)
            note = await receipts.issue(
                uow,
                receipts.Draft(
                    company=self.config.company(original.company),
                    kind=receipts.CREDIT_NOTE,
                    currency=currency,
                    amounts=receipts.credit_amounts(original, notes, units),
                    lines=(
                        receipts.Line(
                            original.lines[0].product if original.lines else "",
                            f"refund of {number}: {reason}",
                            1,
                            -units,
                        ),
                    ),
                    method=original.method,
                    issued_at=self.now(),
                    tax_country=original.tax_country,
                    customer=original.customer,
                    purchase_token=original.purchase_token,
                    original_number=number,
                ),
            )
            entry = await ledger.write_entry(uow, posting, after, seq, note.number)
            return note, entry, True

        return await self.db.transact(work)

    async def _replay(
        self, uow: UnitOfWork, entry: ledger.Entry, number: str
    ) -> tuple[receipts.Receipt, ledger.Entry, bool]:
        note = await receipts.by_number(uow, entry.receipt_number or "")
        if note is None or note.original_number != number:
            raise InvalidParams("idempotency_key already used for another refund")
        return note, entry, False

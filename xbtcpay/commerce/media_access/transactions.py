"""Two-phase transactions of the media access API: ``preparetransaction`` records what is being bought,
``finishtransaction`` settles it exactly once and grants what was bought.

Finishing is a conditional update (``WHERE id = ? AND state = 'prepared'``) in the same
transaction as the grant; the same finish repeated answers the same result, a different one
is a conflict. Prepared transactions not finished within ``commerce.prepare_ttl`` expire.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

import structlog

from xbtcpay.commerce.currencies import Currencies
from xbtcpay.commerce.media_access import granting, pricing, subscription_store
from xbtcpay.commerce.media_access import params as media_params
from xbtcpay.commerce.media_access.errors import TransactionRefused
from xbtcpay.commerce.media_access.products import Terms
from xbtcpay.commerce.media_access.settings import DEFAULT_MAX_PREPARED_AMOUNT
from xbtcpay.commerce.media_access.subscription import activate, delete, expire
from xbtcpay.commerce.media_access.subscription_receipts import ReceiptIssuer
from xbtcpay.commerce.media_access.subscription_state import SubState
from xbtcpay.commerce.media_access.vouchers import discounted
from xbtcpay.commerce.purchases.ledger import Kind
from xbtcpay.core.errors import Conflict, ConstraintViolation, InvalidParams, NotFound
from xbtcpay.core.persistence import Engine, Row, UnitOfWork

log = structlog.get_logger("xbtcpay.commerce.transactions")
PREPARED, FINISHED, EXPIRED, DELETED = "prepared", "finished", "expired", "deleted"


def describe(row: Row) -> dict[str, Any]:
    """The answer of finishtransaction (identical on every repeat)."""
    final = row["final_minor"] if row["final_minor"] is not None else row["amount_minor"]
    return {
        "transactionID": row["id"],
        "state": row["state"],
        "operation": row["operation"],
        "product": row["product"],
        "item": row["item"],
        "amount": row["amount_minor"],
        "finalPayment": final,
        "currency": row["currency"],
        "provider": row["provider"],
        "reference": row["reference"],
        "subscription": row["subscription_id"],
        "finished_at": row["finished_at"],
        "receipt": row["receipt_number"],
    }


@dataclass(frozen=True)
class FinishedTransaction:
    """A finished media transaction as the books see it: what the provider collected."""

    id: int
    customer: str
    operation: str
    provider: str
    reference: str | None
    amount_minor: int  # the final payment
    currency: str
    receipt_number: str | None
    finished_at: int


async def finished_between(db: Engine, start: int, end: int) -> list[FinishedTransaction]:
    """Transactions finished in ``[start, end)`` (UNIX seconds), oldest first."""
    rows = await db.fetchall(
        "SELECT id, customer, operation, provider, reference, amount_minor, final_minor,"
        " currency, receipt_number, finished_at FROM commerce_transactions"
        " WHERE state = ? AND finished_at >= ? AND finished_at < ? ORDER BY finished_at, id",
        (FINISHED, start, end),
    )
    return [
        FinishedTransaction(
            int(r["id"]),
            r["customer"],
            r["operation"],
            r["provider"],
            r["reference"],
            int(r["final_minor"] if r["final_minor"] is not None else r["amount_minor"]),
            r["currency"],
            r["receipt_number"],
            int(r["finished_at"]),
        )
        for r in rows
    ]


def _finish_hash(req: media_params.Finish) -> str:
    fields = {k: v for k, v in asdict(req).items() if k != "transaction_id"}
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()


class Transactions:
    """prepare / finish / delete / expiry of the media access API's transactions."""

    def __init__(
        self,
        db: Engine,
        products: Mapping[str, Mapping[str, Any]],
        terms: Mapping[str, Terms],
        default_subscription: str | None,
        prepare_ttl: int,
        currencies: Currencies,
        clock: Callable[[], float] = time.time,
        receipts: ReceiptIssuer | None = None,
        on_change: Callable[[str], None] | None = None,
        max_prepared_amount: int = DEFAULT_MAX_PREPARED_AMOUNT,
    ) -> None:
        self.db = db
        self.max_prepared_amount = max_prepared_amount
        self.products = products
        self.terms = terms
        self.default_subscription = default_subscription
        self.prepare_ttl = prepare_ttl
        self.currencies = currencies
        self.receipts = receipts
        self.clock = clock
        self.on_change = on_change or (lambda customer: None)

    def now(self) -> int:
        return int(self.clock())

    def resolve_product(self, req: media_params.Prepare) -> str | None:
        if req.operation == "deposit":
            if req.product is not None:
                raise InvalidParams("a deposit names no product")
            if self.currencies.get(req.currency) is None:
                raise InvalidParams(f"unknown currency {req.currency}")
            return None
        if req.product is not None:
            terms = self.terms.get(req.product)
            if terms is None or terms.kind != req.operation:
                raise InvalidParams(f"product is not a {req.operation} product")
            return req.product
        if req.operation == "subscription":
            return pricing.subscription_product(
                self.terms, self.default_subscription, premium=req.premium, duration=req.duration
            )
        found = pricing.media_product(self.terms, req.operation, req.item, req.streamtype)
        if not found:
            raise InvalidParams(f"no {req.operation} product unlocks this item")
        priced = [
            p for p in found if pricing.price_minor(self.products[p], req.currency) == req.amount
        ]
        return (priced or found)[0]

    async def prepare(
        self, customer: str, req: media_params.Prepare, *, from_session: bool = False
    ) -> int:
        """A prepared transaction's id. Products must cost their catalog price; a deposit
        prepared from a session is also bounded by ``commerce.max_prepared_amount``, since
        the shop may finish it without ``finalPayment`` (the shop's own calls are not)."""
        if from_session and req.operation == "deposit" and req.amount > self.max_prepared_amount:
            raise InvalidParams(
                f"amount exceeds commerce.max_prepared_amount ({self.max_prepared_amount}"
                " minor units) for a deposit prepared with a session"
            )
        product = self.resolve_product(req)
        terms = self.terms.get(product) if product else None
        if (
            terms is not None
            and req.duration is not None
            and terms.duration_months != req.duration
            and terms.kind == "subscription"
        ):
            raise InvalidParams("subscriptionDuration differs from the product's duration")
        now = self.now()

        async def op(conn: UnitOfWork) -> int:
            discount_id = await self._check_amount(conn, customer, product, req)
            sub_id = None
            if terms is not None and terms.kind == "subscription":
                sub = granting.pending_subscription(
                    customer,
                    terms,
                    provider=req.provider,
                    provider_ref=req.reference,
                    premium=terms.premium,  # the product's, not subscriptionIsPremium
                    will_renew=req.will_renew,
                    can_renew=req.can_renew,
                    paid_monthly=req.monthly,
                    capture_on=req.capture_on,
                    now=now,
                )
                await subscription_store.insert(conn, sub, source="preparetransaction")
                sub_id = sub.id
            options = {
                "affiliate": req.affiliate,
                "capture_on": req.capture_on,
                "discount": discount_id,
            }
            row = await conn.fetchone(
                "INSERT INTO commerce_transactions (customer, operation, product, item,"
                " streamtype, provider, reference, payment_type, affiliate, amount_minor,"
                " currency, state, subscription_id, options, created_at, expires_at)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?) RETURNING id",
                (
                    customer,
                    req.operation,
                    product,
                    req.item,
                    req.streamtype,
                    req.provider,
                    req.reference,
                    req.payment_type,
                    req.affiliate,
                    req.amount,
                    req.currency,
                    PREPARED,
                    sub_id,
                    json.dumps(options),
                    now,
                    now + self.prepare_ttl,
                ),
            )
            assert row is not None  # RETURNING answers the inserted row
            return int(row["id"])

        try:
            tx_id = await self.db.transact(op)
        except ConstraintViolation:
            raise Conflict("reference already used by another transaction") from None
        log.info(
            "transaction.prepared",
            transaction_id=tx_id,
            customer=customer,
            operation=req.operation,
            product=product,
        )
        return tx_id

    async def _check_amount(
        self, conn: UnitOfWork, customer: str, product: str | None, req: media_params.Prepare
    ) -> int | None:
        """The catalog price (less the customer's open discount) must be the amount."""
        if product is None:
            return None
        listed = pricing.price_minor(self.products[product], req.currency)
        if listed is None:
            raise InvalidParams(f"{product} is not sold in {req.currency}")
        if listed == req.amount:
            return None
        offers = await conn.fetchall(
            "SELECT id, percent, amount FROM discounts WHERE customer = ? AND product = ?"
            " AND used_by IS NULL ORDER BY id",
            (customer, product),
        )
        places = pricing.minor_places(req.currency)
        for row in offers:
            offer = {k: row[k] for k in ("percent", "amount") if row[k] is not None}
            price = pricing.from_minor(listed, req.currency)
            if pricing.to_minor(discounted(price, offer, places), req.currency) == req.amount:
                return int(row["id"])
        raise InvalidParams(
            f"amount differs from the catalog price ({listed} minor units of {req.currency})"
        )

    async def finish(self, customer: str, req: media_params.Finish) -> dict[str, Any]:
        now, digest = self.now(), _finish_hash(req)

        async def op(conn: UnitOfWork) -> dict[str, Any]:
            row = await self._load(conn, customer, req.transaction_id)
            if row["state"] == FINISHED:
                if row["finish_hash"] != digest:
                    raise Conflict("transaction already finished with other parameters")
                return describe(row)
            if row["state"] != PREPARED:
                raise TransactionRefused(f"transaction is {row['state']}")
            if now >= row["expires_at"]:
                await self._expire_row(conn, row, now)
                return {"expired": True}
            if req.reference and row["reference"] and req.reference != row["reference"]:
                raise Conflict("reference differs from the prepared one")
            return await self._settle(conn, row, req, digest, now)

        try:
            result = await self.db.transact(op)
        except ConstraintViolation:
            raise Conflict("reference already used by another transaction") from None
        if result.get("expired"):
            raise TransactionRefused("transaction expired (commerce.prepare_ttl)")
        self.on_change(customer)
        return result

    async def _load(self, conn: UnitOfWork, customer: str, tx_id: int) -> Any:
        # PostgreSQL: concurrent finishes of one transaction queue on its row
        row = await conn.fetchone(
            "SELECT * FROM commerce_transactions WHERE id = ? AND customer = ?" + conn.for_update,
            (tx_id, customer),
        )
        if row is None:
            raise NotFound("unknown transactionID")
        return row

    async def _settle(
        self, conn: UnitOfWork, row: Any, req: media_params.Finish, digest: str, now: int
    ) -> dict[str, Any]:
        final = req.final_payment if req.final_payment is not None else row["amount_minor"]
        reference = row["reference"] or req.reference
        changed = await conn.execute(
            "UPDATE commerce_transactions SET state = ?, final_minor = ?, reference = ?,"
            " payment_type = COALESCE(?, payment_type), finish_hash = ?,"
            " external_user_id = ?, external_reference = ?, finished_at = ?"
            " WHERE id = ? AND state = ?",
            (
                FINISHED,
                final,
                reference,
                req.payment_type,
                digest,
                req.external_user_id,
                req.external_reference,
                now,
                row["id"],
                PREPARED,
            ),
        )
        if changed != 1:
            raise TransactionRefused("transaction is not prepared")
        await self._take_discount(conn, row)
        await self._grant(conn, row, req, final, reference, now)
        if self.receipts is not None and row["operation"] != "subscription":
            number = await self.receipts.issue(
                conn,
                customer=row["customer"],
                product=row["product"],
                provider=row["provider"],
                units=final,
                currency_code=row["currency"],
                at=now,
                top_up=row["operation"] == "deposit",
            )
            await conn.execute(
                "UPDATE commerce_transactions SET receipt_number = ? WHERE id = ?",
                (number, row["id"]),
            )
        settled = await conn.fetchone(
            "SELECT * FROM commerce_transactions WHERE id = ? AND customer = ?",
            (row["id"], row["customer"]),
        )
        assert settled is not None  # updated above in this unit of work
        return describe(settled)

    async def _take_discount(self, conn: UnitOfWork, row: Any) -> None:
        """The discount the transaction was prepared with is consumed here, exactly once.

        Several transactions may be prepared with one open discount; the first finish takes
        it, and a later one is refused like a price mismatch at prepare (nothing of the
        finish is kept, the transaction stays prepared).
        """
        discount = json.loads(row["options"]).get("discount")
        if discount is None:
            return
        taken = await conn.execute(
            "UPDATE discounts SET used_by = ? WHERE id = ? AND used_by IS NULL",
            (row["id"], discount),
        )
        if taken != 1:
            listed = pricing.price_minor(self.products[row["product"]], row["currency"])
            raise InvalidParams(
                f"amount differs from the catalog price ({listed} minor units of"
                f" {row['currency']}): the discount it was prepared with is already used"
            )

    async def _grant(
        self,
        conn: UnitOfWork,
        row: Any,
        req: media_params.Finish,
        final: int,
        reference: str | None,
        now: int,
    ) -> None:
        source = f"transaction:{row['id']}"
        if row["operation"] == "deposit":
            currency = self.currencies.get(row["currency"])
            assert currency is not None  # checked by prepare
            await granting.grant_balance(
                conn, row["customer"], currency, final, source, now, Kind.TOP_UP
            )
            return
        terms = self.terms[row["product"]]
        if terms.kind != "subscription":
            await granting.grant_entitlement(conn, row["customer"], terms, source, now)
            return
        premium = (
            pricing.premium_counterpart(self.terms, terms.product) if req.late_premium else None
        )

        def rule(sub: Any) -> Any:
            done = activate(sub, now)
            if req.late_premium and premium is not None:
                # premium only as the premium product (no premium flag on a basic product)
                done = type(done)(**{**done.__dict__, "premium": True, "product": premium})
            return done

        payment = subscription_store.SubPayment(
            "initial", row["provider"], reference or source, final, row["currency"]
        )
        done = await subscription_store.change(
            conn,
            row["subscription_id"],
            rule,
            "finish",
            source="finishtransaction",
            payment=payment,
            receipt=self.receipts,
            customer=row["customer"],
        )
        number = await conn.fetchone(
            "SELECT receipt_number FROM subscription_payments WHERE"
            " subscription_id = ? AND kind = 'initial'",
            (done.id,),
        )
        await conn.execute(
            "UPDATE commerce_transactions SET receipt_number = ? WHERE id = ?",
            (number["receipt_number"] if number else None, row["id"]),
        )

    async def _expire_row(self, conn: UnitOfWork, row: Any, now: int) -> None:
        await conn.execute(
            "UPDATE commerce_transactions SET state = ? WHERE id = ? AND state = ?",
            (EXPIRED, row["id"], PREPARED),
        )
        if row["subscription_id"] is not None:
            sub = await subscription_store.load(conn, row["subscription_id"])
            if sub is not None and sub.state is SubState.PENDING:
                await subscription_store.change(
                    conn, sub.id, lambda s: expire(s, now), "expire", source="prepare_ttl"
                )

    async def expire_due(self, limit: int = 500) -> int:
        """Expire prepared transactions older than ``commerce.prepare_ttl``."""
        now = self.now()

        async def op(conn: UnitOfWork) -> int:
            rows = await conn.fetchall(
                "SELECT * FROM commerce_transactions WHERE state = ? AND expires_at <= ?"
                " ORDER BY expires_at LIMIT ?",
                (PREPARED, now, limit),
            )
            for row in rows:
                await self._expire_row(conn, row, now)
            return len(rows)

        count: int = await self.db.transact(op)
        if count:
            log.info("transaction.expired", count=count)
        return count

    async def delete(self, customer: str, tx_id: int) -> dict[str, Any]:
        """cancelTransaction=1: only a transaction whose original never completed."""
        now = self.now()

        async def op(conn: UnitOfWork) -> dict[str, Any]:
            row = await self._load(conn, customer, tx_id)
            if row["state"] not in (PREPARED, EXPIRED):
                raise TransactionRefused(
                    "cancelTransaction=1 is only for a transaction whose"
                    " payment failed; use cancelTransaction=0"
                )
            await conn.execute(
                "UPDATE commerce_transactions SET state = ? WHERE id = ? AND state = ?",
                (DELETED, tx_id, row["state"]),
            )
            if row["subscription_id"] is not None:
                sub = await subscription_store.load(conn, row["subscription_id"], customer)
                if (
                    sub is not None
                    and sub.anchor_at is None
                    and sub.state in (SubState.PENDING, SubState.FAILED, SubState.EXPIRED)
                ):
                    await subscription_store.change(
                        conn,
                        sub.id,
                        lambda s: delete(s, now),
                        "delete",
                        source="cancelsubscription",
                        customer=customer,
                    )
            deleted = await conn.fetchone(
                "SELECT * FROM commerce_transactions WHERE id = ? AND customer = ?",
                (tx_id, customer),
            )
            assert deleted is not None  # loaded above in this unit of work
            return describe(deleted)

        return await self.db.transact(op)

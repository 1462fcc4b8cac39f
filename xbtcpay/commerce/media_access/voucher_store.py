"""Vouchers in storage: create, list, disable, and race-free redemption.

Redemption is one transaction: read the voucher, check its window, take a use with a
conditional update (``uses < max_uses``), check the customer's own uses, record the
redemption and apply the grant. A use that is not available changes nothing.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from xbtcpay.commerce.currencies import Currencies
from xbtcpay.commerce.media_access import granting
from xbtcpay.commerce.media_access.errors import VoucherRefused
from xbtcpay.commerce.media_access.products import Terms
from xbtcpay.commerce.media_access.vouchers import Voucher, refusal, same_hash
from xbtcpay.core.persistence import Engine, UnitOfWork


def row_to_voucher(row: Any) -> Voucher:
    return Voucher(
        id=row["id"],
        code_hash=row["code_hash"],
        reference_hash=row["reference_hash"],
        grants=json.loads(row["grants"]),
        valid_from=row["valid_from"],
        valid_until=row["valid_until"],
        max_uses=row["max_uses"],
        max_uses_per_customer=row["max_uses_per_customer"],
        uses=row["uses"],
        disabled=bool(row["disabled"]),
        created_at=row["created_at"],
    )


def describe(v: Voucher) -> dict[str, Any]:
    """A voucher as the shop sees it (never the code: only its id)."""
    return {
        "id": v.id,
        "grants": dict(v.grants),
        "valid_from": v.valid_from,
        "valid_until": v.valid_until,
        "max_uses": v.max_uses,
        "max_uses_per_customer": v.max_uses_per_customer,
        "uses": v.uses,
        "disabled": v.disabled,
        "kind": "code" if v.code_hash else "reference",
        "created_at": v.created_at,
    }


class VoucherStore:
    def __init__(
        self,
        db: Engine,
        terms: Mapping[str, Terms],
        currencies: Currencies,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.db = db
        self.terms = terms
        self.currencies = currencies
        self.clock = clock

    async def create(
        self,
        *,
        code_hash: str | None,
        reference_hash: str | None,
        grants: Mapping[str, Any],
        valid_from: int | None,
        valid_until: int | None,
        max_uses: int | None,
        max_uses_per_customer: int | None,
    ) -> Voucher:
        now = int(self.clock())

        async def op(conn: UnitOfWork) -> Voucher:
            row = await conn.fetchone(
                "INSERT INTO vouchers (code_hash, reference_hash, grants, valid_from,"
                " valid_until, max_uses, max_uses_per_customer, created_at)"
                " VALUES (?,?,?,?,?,?,?,?) RETURNING *",
                (
                    code_hash,
                    reference_hash,
                    json.dumps(dict(grants), sort_keys=True),
                    valid_from,
                    valid_until,
                    max_uses,
                    max_uses_per_customer,
                    now,
                ),
            )
            return row_to_voucher(row)

        return await self.db.transact(op)

    async def list(self, limit: int = 100) -> list[Voucher]:
        rows = await self.db.fetchall("SELECT * FROM vouchers ORDER BY id DESC LIMIT ?", (limit,))
        return [row_to_voucher(r) for r in rows]

    async def disable(self, voucher_id: int) -> bool:
        async def op(conn: UnitOfWork) -> bool:
            changed = await conn.execute(
                "UPDATE vouchers SET disabled = 1 WHERE id = ?", (voucher_id,)
            )
            return bool(changed == 1)

        result: bool = await self.db.transact(op)
        return result

    async def redeem(self, customer: str, kind: str, digest: str) -> dict[str, Any]:
        """Redeem the voucher whose code (kind ``code``) or reference hashes to ``digest``.

        Raises VoucherRefused (nothing written) when it cannot be redeemed.
        """
        now = int(self.clock())
        column = "code_hash" if kind == "code" else "reference_hash"

        async def op(conn: UnitOfWork) -> dict[str, Any]:
            row = await conn.fetchone(f"SELECT * FROM vouchers WHERE {column} = ?", (digest,))
            voucher = row_to_voucher(row) if row else None
            stored = (
                None
                if voucher is None
                else (voucher.code_hash if kind == "code" else voucher.reference_hash)
            )
            if voucher is not None and not same_hash(stored, digest):
                voucher = None
            why = refusal(voucher, now)
            if why is not None:
                raise VoucherRefused(why)
            assert voucher is not None
            taken = await conn.execute(
                "UPDATE vouchers SET uses = uses + 1 WHERE id = ? AND disabled = 0"
                " AND (max_uses IS NULL OR uses < max_uses)",
                (voucher.id,),
            )
            if taken != 1:
                raise VoucherRefused("voucher used up")
            if voucher.max_uses_per_customer is not None:
                used = await conn.fetchone(
                    "SELECT COUNT(*) AS n FROM voucher_redemptions WHERE voucher_id = ?"
                    " AND customer = ?",
                    (voucher.id, customer),
                )
                assert used is not None  # COUNT(*) answers one row
                if used["n"] >= voucher.max_uses_per_customer:
                    raise VoucherRefused("voucher already redeemed by this customer")
            use = await conn.fetchone("SELECT uses FROM vouchers WHERE id = ?", (voucher.id,))
            assert use is not None  # updated above in this unit of work
            source = f"voucher:{voucher.id}:{use['uses']}"
            granted = await self._grant(conn, customer, voucher.grants, source, now)
            await conn.execute(
                "INSERT INTO voucher_redemptions (voucher_id, customer, granted, at)"
                " VALUES (?,?,?,?)",
                (voucher.id, customer, json.dumps(granted), now),
            )
            return {"voucher": voucher.id, "granted": granted}

        result: dict[str, Any] = await self.db.transact(op)
        return result

    async def _grant(
        self, conn: UnitOfWork, customer: str, grants: Mapping[str, Any], source: str, now: int
    ) -> dict[str, Any]:
        if "product" in grants:
            return await granting.grant_product(
                conn, customer, self.terms[grants["product"]], source, now, provider="voucher"
            )
        if "balance" in grants:
            bal = grants["balance"]
            currency = self.currencies.get(bal["currency"])
            if currency is None:
                raise VoucherRefused("the voucher's currency is no longer configured")
            return await granting.grant_balance(
                conn, customer, currency, currency.to_minor(Decimal(bal["amount"])), source, now
            )
        return await granting.grant_discount(conn, customer, dict(grants["discount"]), source, now)

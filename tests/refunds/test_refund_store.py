"""The refunds table's own rules, on a real SQLite file: an approved refund whose payout
transaction is signed cannot be canceled (it may already be on its way), one without can."""

from __future__ import annotations

from pathlib import Path

from xbtcpay.storage.engines import open_engine
from xbtcpay.storage.refunds import (
    APPROVED,
    CANCELED,
    REQUESTED,
    PayoutWallet,
    Refund,
    RefundStore,
    SignedPayout,
)

SENDER = "0x" + "ab" * 20


def refund(refund_id: str) -> Refund:
    return Refund(
        id=refund_id,
        payment_id="pay_1",
        chain="main",
        asset="0xbtc",
        units=100,
        amount="0.000001",
        reason="x",
        status=REQUESTED,
        created_at=1,
        updated_at=1,
        address="0x" + "cd" * 20,
    )


def wallet() -> PayoutWallet:
    return PayoutWallet(
        SENDER, 7, lambda nonce: SignedPayout(SENDER, nonce, f"0x{nonce:064x}", "0x02")
    )


async def test_a_signed_payout_is_never_canceled_and_nonces_follow_each_other(
    tmp_path: Path,
) -> None:
    db = await open_engine(f"sqlite:///{tmp_path}/refunds.db")
    try:
        store = RefundStore(db)
        for name in ("rf_a", "rf_b", "rf_c"):
            assert await store.create(refund(name), 1_000) is None
        signed = await store.approve("rf_a", 2, "wallet", None, wallet())
        assert (signed.status, signed.nonce, signed.raw_tx) == (APPROVED, 7, "0x02")
        # the node still says 7 (it has not seen rf_a yet): the next payout takes 8
        assert (await store.approve("rf_b", 2, "wallet", None, wallet())).nonce == 8
        assert await store.cancel("rf_a", "no", 3) is False
        assert (await store.get("rf_a")).status == APPROVED  # type: ignore[union-attr]
        unsigned = await store.approve("rf_c", 2, "external", None, None, 100)
        assert unsigned.raw_tx is None and unsigned.watch_from == 100
        assert await store.cancel("rf_c", "no", 3) is True
        assert (await store.get("rf_c")).status == CANCELED  # type: ignore[union-attr]
    finally:
        await db.close()

"""Deposit addresses: never reused, and equal to the test mnemonic's private-key addresses."""

from __future__ import annotations

import asyncio
from pathlib import Path

from eth_account import Account

from tests.harness import DEV_MNEMONIC, running_daemon

Account.enable_unaudited_hdwallet_features()


async def test_concurrent_payments_get_distinct_addresses_from_the_xpub(tmp_path: Path) -> None:
    async with running_daemon(tmp_path) as d:
        created = await asyncio.gather(*(d.start_payment(str(i + 1)) for i in range(120)))
        addresses = [c["address"] for c in created]
        assert len(set(addresses)) == 120
        by_index = {}
        for c in created:
            row = await d.runtime.db.fetchone(
                "SELECT derivation_index FROM payments WHERE id = ?", (c["id"],)
            )
            by_index[row[0]] = c["address"]
        assert sorted(by_index) == list(range(10, 130))  # first_index 10, no gaps, no repeats
        for index in (10, 11, 57, 129):
            key = Account.from_mnemonic(DEV_MNEMONIC, account_path=f"m/44'/60'/0'/0/{index}")
            assert by_index[index] == key.address.lower()


def test_payment_ids_are_url_safe_random_and_never_look_like_options() -> None:
    from xbtcpay.core.processor import new_payment_id

    ids = {new_payment_id() for _ in range(20000)}
    assert len(ids) == 20000
    assert all(len(i) == 23 and not i.startswith("-") for i in ids)
    assert all(
        set(i) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
        for i in ids
    )

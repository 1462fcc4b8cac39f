"""The watcher's address book is read from the payments in pages: every issued address
arrives once, across page boundaries and across later calls."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.harness import running_daemon
from xbtcpay.core.deposits import AddressBook
from xbtcpay.storage import chain_store
from xbtcpay.storage.chain_store import ChainStore


async def test_addresses_are_loaded_in_pages_without_a_gap_or_a_double(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(chain_store, "_ADDRESS_PAGE", 4)  # pages of 4 instead of 10,000
    async with running_daemon(tmp_path) as d:
        first = [await d.start_payment("1") for _ in range(10)]
        store, book = ChainStore(d.runtime.db), AddressBook()
        assert await store.load_addresses(book) == 10  # pages of 4, 4 and 2
        later = [await d.start_payment("1") for _ in range(4)]
        assert await store.load_addresses(book) == 4  # a full page, then an empty one
        assert await store.load_addresses(book) == 0
        assert len(book) == 14
        for p in first + later:
            target = book.get(p["address"])
            assert target is not None and target.payment_id == p["id"]

"""Pure parts of the watcher: settlement rules, reorg checks, deposit parsing."""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

import pytest

from xbtcpay.chain.deposits import (
    TRANSFER_TOPIC,
    AddressBook,
    Deposit,
    balance_deposit,
    ether_deposits,
    transfer_deposits,
)
from xbtcpay.chain.reconcile import surpluses
from xbtcpay.chain.reorg import (
    ChainMoved,
    Header,
    ReorgDetected,
    check_logs,
    check_range,
    common_ancestor,
)
from xbtcpay.chain.settlement import Rules, Threshold, completing, next_event
from xbtcpay.chain.watcher import http_urls
from xbtcpay.core.models import Payment
from xbtcpay.core.state import Event, State

TOKEN = "0x5fbdb2315678afecb367f032d93f642f64180aa3"
ADDR = "0xbcd4042de499d14e55001ccbb24a551f3b954096"
NOW = int(time.time())


def payment(status: State = State.NEW, **kw: Any) -> Payment:
    base: dict[str, Any] = {
        "id": "p1",
        "method": "crypto",
        "asset": "0xbtc",
        "amount": Decimal("1.5"),
        "status": status,
        "created_at": NOW,
        "address": ADDR,
        "expires_at": NOW + 60,
    }
    return Payment(**{**base, **kw})


def deposit(units: int, block: int, position: int = 0, tx: str | None = "0xt") -> Deposit:
    return Deposit(
        key=f"log:0xb{block}:{position}",
        payment_id="p1",
        asset="0xbtc",
        address=ADDR,
        units=units,
        kind="log",
        tx_hash=f"{tx}{block}" if tx else None,
        block_number=block,
        block_hash=f"0xb{block}",
        position=position,
    )


def rules(
    head: int, confirmations: int | None = 3, finalized: int | None = None, now: int = NOW
) -> Rules:
    return Rules(8, Threshold(head, confirmations, finalized), now, late_window=100)


# -- settlement --------------------------------------------------------------------------


def test_first_sight_is_seen_at_zero_confirmations() -> None:
    event = next_event(payment(), [deposit(150_000_000, 10)], rules(head=10))
    assert event is not None and event.kind == Event.SEEN
    assert event.amount_received == Decimal("1.5") and event.tx_block == 10


@pytest.mark.parametrize("head, expected", [(11, None), (12, Event.PAID), (40, Event.PAID)])
def test_paid_exactly_at_the_threshold(head: int, expected: Event | None) -> None:
    seen = payment(State.SEEN, amount_received=Decimal("1.5"), tx_hash="0xt10", tx_block=10)
    event = next_event(seen, [deposit(150_000_000, 10)], rules(head))
    assert (event.kind if event else None) == expected


def test_the_completing_transfer_sets_tx_hash_and_its_confirmations_count() -> None:
    parts = [deposit(100_000_000, 10), deposit(50_000_000, 20), deposit(7, 21)]
    assert completing(parts, 150_000_000) == parts[1]
    seen = payment(State.SEEN, amount_received=Decimal("1.5"), tx_hash="0xt20", tx_block=20)
    assert next_event(seen, parts, rules(head=21)) is not None  # amount grew: received
    event = next_event(seen, parts, rules(head=22))
    assert event is not None and event.kind == Event.PAID
    assert event.tx_hash == "0xt20" and event.amount_received == Decimal("1.50000007")


def test_underpaid_stays_seen_whatever_the_depth() -> None:
    seen = payment(State.SEEN, amount_received=Decimal(1), tx_hash="0xt10", tx_block=10)
    assert next_event(seen, [deposit(100_000_000, 10)], rules(head=1000)) is None


def test_a_reorg_removing_all_funds_unsees_a_seen_payment() -> None:
    seen = payment(State.SEEN, amount_received=Decimal(1), tx_hash="0xt10", tx_block=10)
    event = next_event(seen, [], rules(head=12))
    assert event is not None and event.kind == Event.UNSEEN and event.amount_received == 0


def test_a_paid_payment_losing_funds_is_reorged_once() -> None:
    paid = payment(State.PAID, amount_received=Decimal("1.5"))
    event = next_event(paid, [deposit(100_000_000, 10)], rules(head=50))
    assert event is not None and event.kind == Event.REORGED
    flagged = payment(State.PAID, amount_received=Decimal(1), reorged=True)
    assert next_event(flagged, [deposit(100_000_000, 10)], rules(head=50)) is None


def test_expired_is_paid_late_only_inside_the_window() -> None:
    expired = payment(State.EXPIRED, amount_received=Decimal("1.5"), expires_at=NOW - 10)
    funds = [deposit(150_000_000, 10)]
    event = next_event(expired, funds, rules(head=12))
    assert event is not None and event.kind == Event.PAID
    too_late = rules(head=12, now=NOW + 200)
    assert next_event(expired, funds, too_late) is None


def test_finalized_threshold_uses_the_finalized_block() -> None:
    seen = payment(State.SEEN, amount_received=Decimal("1.5"), tx_hash="0xt10", tx_block=10)
    funds = [deposit(150_000_000, 10)]
    assert next_event(seen, funds, rules(100, None, finalized=9)) is None
    assert next_event(seen, funds, rules(100, None, finalized=None)) is None
    event = next_event(seen, funds, rules(100, None, finalized=10))
    assert event is not None and event.kind == Event.PAID


def test_terminal_states_are_left_alone() -> None:
    for status in (State.CANCELED, State.REFUNDED, State.FAILED):
        assert next_event(payment(status), [deposit(150_000_000, 10)], rules(50)) is None


# -- reorg checks ------------------------------------------------------------------------


def chain_of(n: int, start: int = 1, fork: str = "a") -> list[Header]:
    headers, parent = [], f"0x{fork}{start - 1}"
    for number in range(start, start + n):
        headers.append(Header(number, f"0x{fork}{number}", parent))
        parent = f"0x{fork}{number}"
    return headers


def test_range_must_extend_the_stored_tip() -> None:
    main = chain_of(6)
    check_range(main[2], main[3:])
    with pytest.raises(ReorgDetected):
        check_range(main[2], chain_of(3, start=4, fork="b"))
    broken = [main[3], Header(5, "0xb5", "0xb4")]
    with pytest.raises(ChainMoved):
        check_range(main[2], broken)


def test_logs_must_name_the_fetched_block_hash() -> None:
    hashes = {h.number: h.hash for h in chain_of(3)}
    check_logs([{"blockNumber": 2, "blockHash": "0xA2"}], hashes)
    with pytest.raises(ChainMoved):
        check_logs([{"blockNumber": 2, "blockHash": "0xb2"}], hashes)


def test_common_ancestor_is_the_highest_block_both_chains_share() -> None:
    stored = chain_of(8)
    node = {h.number: h.hash for h in stored[:5]} | {6: "0xb6", 7: "0xb7", 8: "0xb8"}
    assert common_ancestor(stored, node) == 5
    assert common_ancestor(stored, {}) is None


# -- deposits ----------------------------------------------------------------------------


def transfer_log(to: str, value: int, **kw: Any) -> dict[str, Any]:
    return {
        "address": TOKEN,
        "topics": [TRANSFER_TOPIC, "0x" + "0" * 64, "0x" + "0" * 24 + to[2:]],
        "data": hex(value),
        "blockHash": "0xB1",
        "blockNumber": 7,
        "logIndex": 3,
        "transactionHash": "0xT",
        **kw,
    }


def test_transfers_match_issued_addresses_of_the_same_token() -> None:
    book = AddressBook()
    book.add(1, ADDR.upper().replace("0X", "0x"), "p1", "0xbtc")
    contracts = {TOKEN: "0xbtc"}
    found = transfer_deposits([transfer_log(ADDR, 5)], book, contracts)
    assert [(d.payment_id, d.units, d.key, d.tx_hash) for d in found] == [
        ("p1", 5, "log:0xb1:3", "0xt")
    ]
    assert transfer_deposits([transfer_log("0x" + "1" * 40, 5)], book, contracts) == []
    assert (
        transfer_deposits([transfer_log(ADDR, 5, address="0x" + "2" * 40)], book, contracts) == []
    )
    assert transfer_deposits([transfer_log(ADDR, 5, removed=True)], book, contracts) == []
    nft = transfer_log(ADDR, 0)
    nft["topics"] = [*nft["topics"], "0x" + "0" * 63 + "1"]
    assert transfer_deposits([nft], book, contracts) == []


def test_ether_deposits_only_for_native_payments() -> None:
    book = AddressBook()
    book.add(1, ADDR, "p1", "eth")
    book.add(2, "0x" + "3" * 40, "p2", "0xbtc")
    block = {
        "hash": "0xB",
        "number": 9,
        "transactions": [
            {"hash": "0x1", "to": ADDR, "value": hex(10), "transactionIndex": "0x0"},
            {"hash": "0x2", "to": "0x" + "3" * 40, "value": hex(10), "transactionIndex": "0x1"},
            {"hash": "0x3", "to": None, "value": hex(10), "transactionIndex": "0x2"},
            {"hash": "0x4", "to": ADDR, "value": "0x0", "transactionIndex": "0x3"},
        ],
    }
    found = ether_deposits([block], book, frozenset({"eth"}))
    assert [(d.payment_id, d.units, d.tx_hash, d.kind) for d in found] == [("p1", 10, "0x1", "tx")]


def test_reconciled_surplus_is_the_unexplained_part_only() -> None:
    watched = [("p1", ADDR), ("p2", "0x" + "4" * 40)]
    found = surpluses(
        "0xbtc", watched, {ADDR: 10, "0x" + "4" * 40: 3}, {"p1": 4, "p2": 5}, 20, "0xB20"
    )
    assert found == [balance_deposit("p1", "0xbtc", ADDR, 6, 20, "0xb20")]
    assert found[0].tx_hash is None and found[0].key == "balance:0xb20:p1"


def test_websocket_only_config_calls_over_the_same_host() -> None:
    assert http_urls(("ws://127.0.0.1:8545",)) == ["ws://127.0.0.1:8545", "http://127.0.0.1:8545"]
    assert http_urls(("wss://node.example/k",)) == [
        "wss://node.example/k",
        "https://node.example/k",
    ]
    both = ("http://a:1", "ws://a:1")
    assert http_urls(both) == list(both)

"""Stray deposits read off logs and blocks: another configured asset sent to our address."""

from __future__ import annotations

from typing import Any

from xbtcpay.chain.deposits import TRANSFER_TOPIC, stray_deposits
from xbtcpay.core.deposits import AddressBook

TOKEN_A, TOKEN_B = "0x" + "a" * 40, "0x" + "b" * 40
OURS_A, OURS_ETH = "0x" + "1" * 40, "0x" + "2" * 40
CONTRACTS = {TOKEN_A: "token_a", TOKEN_B: "token_b"}


def _book() -> AddressBook:
    book = AddressBook()
    book.add(10, OURS_A, "pay_a", "token_a")
    book.add(11, OURS_ETH, "pay_eth", "eth")
    return book


def _log(token: str, to: str, units: int, index: int) -> dict[str, Any]:
    return {
        "address": token,
        "topics": [TRANSFER_TOPIC, "0x" + "0" * 64, "0x" + "0" * 24 + to[2:]],
        "data": hex(units),
        "blockHash": "0x" + "c" * 64,
        "blockNumber": 7,
        "logIndex": index,
        "transactionHash": "0x" + "d" * 63 + str(index),
    }


def _block(*txs: tuple[str, int]) -> dict[str, Any]:
    return {
        "hash": "0x" + "e" * 64,
        "number": 7,
        "transactions": [
            {
                "hash": "0x" + "f" * 63 + str(i),
                "to": to,
                "value": hex(wei),
                "transactionIndex": hex(i),
            }
            for i, (to, wei) in enumerate(txs)
        ],
    }


def test_another_token_or_coin_to_our_address_is_stray_and_the_right_one_is_not() -> None:
    logs = [
        _log(TOKEN_A, OURS_A, 5, 0),  # the payment's own token: a deposit, not stray
        _log(TOKEN_B, OURS_A, 6, 1),  # another configured token: stray
        _log(TOKEN_A, OURS_ETH, 7, 2),  # a token to the ETH payment's address: stray
        _log(TOKEN_B, "0x" + "9" * 40, 8, 3),  # not our address
        _log("0x" + "7" * 40, OURS_A, 9, 4),  # a token no asset names: not seen
    ]
    blocks = [_block((OURS_A, 10**18), (OURS_ETH, 2), ("0x" + "9" * 40, 3))]
    found = stray_deposits(logs, blocks, _book(), CONTRACTS, frozenset({"eth"}))
    assert [(d.payment_id, d.asset, d.units, d.kind, d.stray) for d in found] == [
        ("pay_a", "token_b", 6, "log", True),
        ("pay_eth", "token_a", 7, "log", True),
        ("pay_a", "eth", 10**18, "tx", True),
    ]


def test_without_a_native_asset_blocks_are_not_read() -> None:
    blocks = [_block((OURS_A, 10**18))]
    assert stray_deposits([], blocks, _book(), CONTRACTS, frozenset()) == []

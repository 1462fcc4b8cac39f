"""EIP-681 payment URIs."""

from __future__ import annotations

from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import pytest

from xbtcpay.chain.eip681 import payment_uri

TOKEN = "0xB6eD7644C69416d67B522e20bC294A9a9B405B31"
DEPOSIT = "0xBcd4042DE499D14e55001CcbB24a551F3b954096"


def test_token_uri_has_chain_id_and_integer_base_units() -> None:
    units = int(Decimal("1.5").scaleb(8))
    uri = payment_uri(contract=TOKEN, native=False, chain_id=1, address=DEPOSIT, units=units)
    assert uri == f"ethereum:{TOKEN}@1/transfer?address={DEPOSIT}&uint256=150000000"


def test_native_uri_uses_value_in_wei() -> None:
    uri = payment_uri(contract=None, native=True, chain_id=31337, address=DEPOSIT, units=10**18 + 1)
    assert uri == f"ethereum:{DEPOSIT}@31337?value=1000000000000000001"


def test_uri_parts_round_trip() -> None:
    uri = payment_uri(contract=TOKEN, native=False, chain_id=5, address=DEPOSIT, units=7)
    scheme, rest = uri.split(":", 1)
    target, query = rest.split("?", 1)
    assert scheme == "ethereum"
    assert target == f"{TOKEN}@5/transfer"
    assert parse_qs(query) == {"address": [DEPOSIT], "uint256": ["7"]}
    assert urlsplit(uri).scheme == "ethereum"


def test_huge_amounts_stay_plain_integers() -> None:
    units = 20_999_984 * 10**8
    uri = payment_uri(contract=TOKEN, native=False, chain_id=1, address=DEPOSIT, units=units)
    assert uri.endswith("&uint256=2099998400000000")
    assert "e" not in uri.rsplit("=", 1)[1]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"units": -1},
        {"units": 1.5},
        {"units": True},
        {"chain_id": 0},
        {"address": "0x1234"},
        {"address": DEPOSIT + "00"},
        {"contract": None},
        {"contract": "B6eD7644C69416d67B522e20bC294A9a9B405B31"},
    ],
)
def test_bad_input_is_refused(kwargs: dict[str, object]) -> None:
    args: dict[str, object] = {
        "contract": TOKEN,
        "native": False,
        "chain_id": 1,
        "address": DEPOSIT,
        "units": 1,
    } | kwargs
    with pytest.raises(ValueError):
        payment_uri(**args)  # type: ignore[arg-type]

"""``jsonio.dumps`` (json's C encoder, Decimals through a placeholder) writes exactly the text
of the Python reference encoder for every kind of value the daemon answers with."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from xbtcpay.core import jsonio

INVOICE_ANSWER: dict[str, Any] = {
    "jsonrpc": "2.0",
    "id": 1,
    "result": {
        "id": "qlMTqwzgVoC_7ggRylKeJBo",
        "amount": "1326.68",
        "address": "0x08b649bb04a002e69a3383dda5e44466fca4969b",
        "status": "new",
        "expires_at": 1765112345,
        "payment_uri": "ethereum:0xb6ed@1/transfer?address=0x08b6&uint256=132668000000",
        "chain": "main",
        "chain_id": 1,
        "price": "663.34",
        "currency": "USD",
        "options": [
            {"asset": "0xbtc", "amount": "1326.68", "rate": "0.5", "rate_at": 1765111445},
            {"asset": "eth", "amount": "0.2211", "rate": "3000.12", "rate_at": 1765111440},
        ],
        "paid_option": None,
        "underpaid": False,
    },
}

VALUES: list[Any] = [
    INVOICE_ANSWER,
    {"balance": Decimal("12.50"), "fee": Decimal("0.000000000000000001"), "n": Decimal("1E+3")},
    [Decimal("-0"), Decimal("0E-8"), Decimal("123456789012345678901234567890.123456789")],
    {"nested": [[1, [2, [Decimal("3.0"), {"deep": [None, True, False]}]]], (4, "five")]},
    {"unicode": "naïve – ☃ 𝄞 日本", "escapes": 'quote " backslash \\ tab \t nl \n nul \x00'},
    {"lone": "\ud800", "del": "\x7f", "line sep": "\u2028\u2029", "ctrl": "\x1f"},
    {"ints": [0, -1, 2**63, -(2**70)], "floats": [0.1, -2.5e-300, 1e300]},
    {"empty": {}, "list": [], "tuple": (), "string": ""},
    {1: "int key", 2.5: "float key", "x": {"y": {"z": Decimal("7")}}},
    {Decimal("1.5"): "a Decimal key is written as its text"},
    {"fake": "not the placeholder", "text": "xbtcpay-decimal-"},
    "a bare string",
    Decimal("42.000"),
    None,
    True,
    False,
    17,
    [],
]


@pytest.mark.parametrize("value", VALUES, ids=range(len(VALUES)))
def test_c_encoder_writes_the_reference_text(value: Any) -> None:
    assert jsonio.dumps(value) == jsonio._python_dumps(value)


def test_decimals_are_numbers_in_their_exact_text() -> None:
    text = jsonio.dumps({"a": Decimal("1.10"), "b": [Decimal("2E-9"), "3.0"]})
    assert text == '{"a":1.10,"b":[2E-9,"3.0"]}'
    assert jsonio.loads(text) == {"a": Decimal("1.10"), "b": [Decimal("2E-9"), "3.0"]}


def test_a_string_equal_to_the_placeholder_stays_a_string() -> None:
    value = {"data": jsonio._PLACEHOLDER, "amount": Decimal("1.5")}
    assert jsonio.dumps(value) == '{"data":"' + jsonio._PLACEHOLDER + '","amount":1.5}'
    only = [jsonio._PLACEHOLDER]
    assert jsonio.dumps(only) == '["' + jsonio._PLACEHOLDER + '"]'


def test_what_cannot_be_encoded_is_refused_as_before() -> None:
    with pytest.raises(TypeError):
        jsonio.dumps({"a": {1, 2}})
    with pytest.raises(TypeError):
        jsonio.dumps([object()])
    loop: list[Any] = []
    loop.append(loop)
    with pytest.raises(ValueError, match="Circular"):  # not a crash of the interpreter
        jsonio.dumps(loop)

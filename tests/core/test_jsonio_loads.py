"""``jsonio.loads`` (one shared decoder, the depth scan's short cut) against the reference:
``json.loads`` with the same hooks after the full bracket walk, as it was written before."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xbtcpay.core import jsonio
from xbtcpay.core.jsonio import MAX_DEPTH, JsonError, check, loads


def walked_too_deep(text: str, limit: int) -> bool:
    """The bracket walk alone, without the count that usually answers first."""
    return jsonio._walk_exceeds(text, limit)


def reference_loads(text: str) -> Any:
    if walked_too_deep(text, MAX_DEPTH):
        raise JsonError("nesting too deep")
    text = check(text)
    try:
        return json.loads(
            text,
            parse_float=Decimal,
            parse_constant=jsonio._reject_constant,
            object_pairs_hook=jsonio._unique_keys,
        )
    except (ValueError, RecursionError) as exc:
        raise JsonError(str(exc)) from None


def outcome(parse: Any, text: str) -> tuple[str, Any]:
    try:
        value = parse(text)
    except JsonError as exc:
        return "error", str(exc)
    return "value", json.dumps(value, default=repr, sort_keys=False)


CASES = [
    '{"jsonrpc":"2.0","id":1,"method":"start_payment","params":{"amount":"1.5"}}',
    '{"a": 1.50, "b": 1e3, "c": -0, "d": [1, 2.0, {"e": null}]}',
    '{"a": 1, "a": 2}',
    '{"a": NaN}',
    "[Infinity]",
    "\ufeff{}",
    " \ufeff{}",
    "",
    "   ",
    "{",
    '{"a": "\\ud800"}',
    '{"a": "\\ud83d\\ude00"}',
    '{"a": "[[[[{{{{"}',
    "[" * MAX_DEPTH + "]" * MAX_DEPTH,
    "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1),
    "[" * MAX_DEPTH + "]" * MAX_DEPTH + "[" * MAX_DEPTH + "]" * MAX_DEPTH,  # many, none deep
    '["' + "[" * 200 + '"]',  # brackets inside a string do not nest
    "[" * 3000,
    "1",
    '"text"',
    "[1,]",
]


@pytest.mark.parametrize("text", CASES)
def test_loads_answers_as_the_reference_does(text: str) -> None:
    assert outcome(loads, text) == outcome(reference_loads, text)


def test_loads_of_bytes_is_loads_of_their_text() -> None:
    body = '{"amount": "1.5", "n": 2.25}'
    assert loads(body.encode()) == loads(body) == {"amount": "1.5", "n": Decimal("2.25")}
    with pytest.raises(JsonError, match="UTF-8"):
        loads(b"\xff{}")


def test_depth_limit_holds_when_the_count_cannot_decide() -> None:
    deep = "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1)
    with pytest.raises(JsonError, match="nesting too deep"):
        loads(deep)
    with pytest.raises(JsonError, match="nesting too deep"):
        loads('{"x": ' + deep + "}")
    wide = ",".join(["[[1]]"] * MAX_DEPTH)
    assert loads("[" + wide + "]") == [[[1]]] * MAX_DEPTH


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.decimals(allow_nan=False, allow_infinity=False, places=4)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=40,
)


@settings(max_examples=300, deadline=None)
@given(json_values, st.integers(0, 80))
def test_generated_documents_parse_as_the_reference_does(value: Any, extra_depth: int) -> None:
    text = json.dumps(value, default=str)
    nested = "[" * extra_depth + text + "]" * extra_depth
    for candidate in (text, nested, nested[:-1], text.replace(":", ",", 1)):
        assert outcome(loads, candidate) == outcome(reference_loads, candidate)

"""Strict JSON in and exact JSON out (decimals stay decimals, never floats)."""

from __future__ import annotations

import json
import json.encoder
import re
import secrets
from decimal import Decimal
from typing import Any

MAX_DEPTH = 64
# Each backslash escape in turn (so an escaped backslash is never taken for one that starts an
# escape); group 1 is a surrogate escape that is not the first half of a valid pair.
_ESCAPE = re.compile(
    r"\\(?:u[dD][89abAB][0-9a-fA-F]{2}\\u[dD][c-fC-F][0-9a-fA-F]{2}"
    r"|(u[dD][89a-fA-F][0-9a-fA-F]{2})|u[0-9a-fA-F]{4}|.)",
    re.DOTALL,
)


class JsonError(ValueError):
    """The text is not acceptable JSON."""


def _reject_constant(name: str) -> Any:
    raise JsonError(f"{name} is not valid JSON")


def loads(text: str | bytes) -> Any:
    """Parse JSON; numbers with a fraction or exponent become Decimal; NaN/Infinity refused.

    Also refused: nesting deeper than MAX_DEPTH, a lone UTF-16 surrogate escape (it cannot be
    written back out as UTF-8) and an object naming one key twice (two readers of one signed
    body could otherwise see two different values).
    """
    text = check(text)
    try:
        if text.startswith("\ufeff"):  # json.loads refuses it before decoding; so do we
            raise json.JSONDecodeError("Unexpected UTF-8 BOM (decode using utf-8-sig)", text, 0)
        return _DECODER.decode(text)
    except (ValueError, RecursionError) as exc:
        raise JsonError(str(exc)) from None


def check(text: str | bytes) -> str:
    """The text if it is UTF-8, at most MAX_DEPTH deep and free of lone surrogates.

    A cheap scan, not a parse: a middleware runs it on bodies before any handler does.
    """
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise JsonError("body is not UTF-8") from exc
    if _depth_exceeds(text, MAX_DEPTH):
        raise JsonError("nesting too deep")
    if "\\u" in text and any(m.group(1) for m in _ESCAPE.finditer(text)):
        raise JsonError("lone surrogate escape")
    return text


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        raise JsonError("duplicate key in object")
    return out


# json.loads with arguments builds a decoder per call; this one is built once (the scanner
# holds no state between calls) and parses the same way.
_DECODER = json.JSONDecoder(
    parse_float=Decimal, parse_constant=_reject_constant, object_pairs_hook=_unique_keys
)


def _depth_exceeds(text: str, limit: int) -> bool:
    """Cheap bracket count (ignores strings' content conservatively: may only over-count).

    A text with at most ``limit`` opening brackets in all cannot nest deeper than that: two
    counts in C answer for almost every body without the walk in Python."""
    if text.count("[") + text.count("{") <= limit:
        return False
    return _walk_exceeds(text, limit)


def _walk_exceeds(text: str, limit: int) -> bool:
    """The bracket walk: the depth of the deepest nesting, strings skipped."""
    depth = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > limit:
                return True
        elif char in "]}":
            depth -= 1
    return False


def dumps(value: Any) -> str:
    """Compact JSON; a Decimal is written as its exact number text.

    json's C encoder writes the text (an answer is encoded on every call, and the Python
    encoder below took most of the time of a large one); a Decimal goes through it as a
    placeholder string that is then replaced by the number's text. Whatever the C encoder
    cannot write exactly as ``_python_dumps`` does (a value it refuses, a placeholder it
    cannot account for) is written by ``_python_dumps``, which stays the reference. A value
    that contains itself raises ValueError (the Python encoder recursed until the stack
    ran out)."""
    if _c_make_encoder is None:
        return _python_dumps(value)
    numbers: list[str] = []

    def number(obj: Any) -> str:
        if isinstance(obj, Decimal):
            numbers.append(str(obj))
            return _PLACEHOLDER
        raise TypeError(f"cannot encode {type(obj).__name__} as JSON")

    encode = _c_make_encoder(
        {}, number, json.encoder.encode_basestring, None, ":", ",", False, False, True
    )
    try:
        text = "".join(encode(value, 0))
    except TypeError:  # a key it cannot write (a Decimal), or a value nobody can
        return _python_dumps(value)
    if not numbers:
        return text
    parts = text.split(_QUOTED_PLACEHOLDER)
    if len(parts) != len(numbers) + 1:  # a string equal to the placeholder: cannot tell
        return _python_dumps(value)
    out = [parts[0]]
    for digits, rest in zip(numbers, parts[1:], strict=True):
        out += (digits, rest)
    return "".join(out)


# A string no value of ours holds; ``dumps`` counts its occurrences, so even one that did
# would only send that value through the Python encoder.
_PLACEHOLDER = "xbtcpay-decimal-" + secrets.token_hex(16)
_QUOTED_PLACEHOLDER = f'"{_PLACEHOLDER}"'
_c_make_encoder: Any = getattr(json.encoder, "c_make_encoder", None)


def _python_dumps(value: Any) -> str:
    """The reference encoder: what ``dumps`` writes, one value at a time in Python."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, float):
        return json.dumps(value)
    if isinstance(value, dict):
        return (
            "{"
            + ",".join(
                json.dumps(str(k), ensure_ascii=False) + ":" + _python_dumps(v)
                for k, v in value.items()
            )
            + "}"
        )
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_python_dumps(v) for v in value) + "]"
    raise TypeError(f"cannot encode {type(value).__name__} as JSON")

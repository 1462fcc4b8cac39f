"""Strict JSON in and exact JSON out (decimals stay decimals, never floats)."""

from __future__ import annotations

import json
import re
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
        return json.loads(
            text,
            parse_float=Decimal,
            parse_constant=_reject_constant,
            object_pairs_hook=_unique_keys,
        )
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


def _depth_exceeds(text: str, limit: int) -> bool:
    """Cheap bracket count (ignores strings' content conservatively: may only over-count)."""
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
    """Compact JSON; a Decimal is written as its exact number text."""
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
                json.dumps(str(k), ensure_ascii=False) + ":" + dumps(v) for k, v in value.items()
            )
            + "}"
        )
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(dumps(v) for v in value) + "]"
    raise TypeError(f"cannot encode {type(value).__name__} as JSON")

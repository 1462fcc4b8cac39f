"""JSV, ServiceStack's text format (its "JSV Format" page), read and written.

JSV is JSON without most quotes: ``{Name:Me,Tags:[a,b],Card:{Month:1}}``. Strings are bare
and their white-space is significant; a string holding any of ``[]{},"`` (or starting or
ending with white-space, or empty) is wrapped in double quotes with every ``"`` doubled:
``{Name:"Me, Junior",Quote:"a ""b"" c"}``. Nothing in the text says a value's type: the
reader gives text, lists and objects, and the receiving type (the request's fields) decides
what ``True`` or ``12.50`` mean.

- Reading: objects become dicts, lists become lists, every scalar a string; a bare value with
  nothing in it (``{A:}``, ``[a,,b]``) is None, ``""`` is the empty string. White-space
  around names, around bare values and between tokens is dropped (the documented samples are
  indented), so significant edge white-space needs quotes, as the writer puts it.
  ``JsvError`` says what is wrong; nesting deeper than ``MAX_DEPTH`` is refused.
- Writing: None in an object leaves the property out (ServiceStack's default), None in a
  list is an empty element; ``True``/``False`` as ServiceStack writes them; a Decimal or int
  as its exact digits (never through a float); floats are refused.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any, Final

MAX_DEPTH: Final = 64
_SPECIAL: Final = frozenset('[]{},"')
_WHITE: Final = " \t\r\n"


class JsvError(ValueError):
    """The text is not JSV this reader accepts."""


def dumps(value: Any) -> str:
    """``value`` (dicts, lists, strings, bools, ints, Decimals, None) as JSV text."""
    if value is None:
        return ""
    if value is True:
        return "True"
    if value is False:
        return "False"
    if isinstance(value, (int, Decimal)):
        if isinstance(value, Decimal) and not value.is_finite():
            raise TypeError("JSV has no text for NaN or infinity")
        return str(value) if isinstance(value, int) else format(value, "f")
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, Mapping):
        return (
            "{"
            + ",".join(
                f"{_string(str(k), name=True)}:{dumps(v)}"
                for k, v in value.items()
                if v is not None
            )
            + "}"
        )
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(dumps(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} as JSV")


def _string(text: str, *, name: bool = False) -> str:
    special = _SPECIAL | {":"} if name else _SPECIAL  # a name ends at its colon
    if text and not (special & set(text)) and text[0] not in _WHITE and text[-1] not in _WHITE:
        return text
    return '"' + text.replace('"', '""') + '"'


def loads(text: str) -> Any:
    """The value of a JSV text (see the module docstring); JsvError when it is not JSV."""
    reader = _Reader(text)
    value = reader.value(0)
    reader.skip_white()
    if reader.pos != len(text):
        raise JsvError(f"unexpected {text[reader.pos]!r} at {reader.pos}")
    return value


class _Reader:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def skip_white(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos] in _WHITE:
            self.pos += 1

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def value(self, depth: int) -> Any:
        if depth > MAX_DEPTH:
            raise JsvError("nesting too deep")
        self.skip_white()
        char = self.peek()
        if char == "{":
            return self.object(depth)
        if char == "[":
            return self.list(depth)
        if char == '"':
            return self.quoted()
        return self.bare("")

    def object(self, depth: int) -> dict[str, Any]:
        self.pos += 1
        out: dict[str, Any] = {}
        self.skip_white()
        if self.peek() == "}":
            self.pos += 1
            return out
        while True:
            self.skip_white()
            name = self.quoted() if self.peek() == '"' else self.bare(":")
            if not isinstance(name, str) or not name:
                raise JsvError(f"property without a name at {self.pos}")
            self.skip_white()
            if self.peek() != ":":
                raise JsvError(f"expected ':' after {name!r}")
            self.pos += 1
            if name in out:
                raise JsvError(f"property {name!r} given twice")
            out[name] = self.value(depth + 1)
            if self.close("}"):
                return out

    def list(self, depth: int) -> list[Any]:
        self.pos += 1
        out: list[Any] = []
        self.skip_white()
        if self.peek() == "]":
            self.pos += 1
            return out
        while True:
            out.append(self.value(depth + 1))
            if self.close("]"):
                return out

    def close(self, end: str) -> bool:
        """After a member: True at ``end`` (consumed), False at ``,`` (consumed)."""
        self.skip_white()
        char = self.peek()
        self.pos += 1
        if char == end:
            return True
        if char == ",":
            return False
        raise JsvError(f"expected ',' or {end!r}, found {char or 'the end'!r}")

    def quoted(self) -> str:
        self.pos += 1
        parts: list[str] = []
        while True:
            end = self.text.find('"', self.pos)
            if end < 0:
                raise JsvError("unterminated quoted string")
            parts.append(self.text[self.pos : end])
            self.pos = end + 1
            if self.peek() != '"':
                return '"'.join(parts)
            self.pos += 1  # a doubled quote stands for one

    def bare(self, extra_stop: str) -> str | None:
        start = self.pos
        stops = ",]}" + extra_stop
        while self.pos < len(self.text) and self.text[self.pos] not in stops:
            if self.text[self.pos] in '[{"':
                raise JsvError(f"unexpected {self.text[self.pos]!r} in a bare value")
            self.pos += 1
        value = self.text[start : self.pos].strip(_WHITE)
        return value or None

"""The export request: a period ``[from, to)`` and a format, parsed once for the JSON-RPC
method and the CLI, so both refuse the same input with the same words."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from xbtcpay.core.errors import InvalidParams

FORMATS = ("csv", "beancount")
PARAMS = {"from", "to", "format", "currency"}
_UNIX = re.compile(r"^[0-9]{1,12}\Z")
_CURRENCY = re.compile(r"^[A-Za-z]{3}\Z")
MAX_TIME = 253402300799  # 9999-12-31T23:59:59Z


@dataclass(frozen=True)
class ExportRequest:
    start: int  # UNIX seconds, included
    end: int  # UNIX seconds, excluded
    format: str
    currency: str | None = None  # ISO 4217, upper case: the fiat column's currency


def parse_time(name: str, value: object) -> int:
    """UNIX seconds from an integer, a string of digits, an ISO 8601 date (midnight UTC) or
    an ISO 8601 date-time (UTC unless it carries an offset)."""
    if isinstance(value, bool):
        raise InvalidParams(f"{name}: expected UNIX seconds or an ISO 8601 date/time")
    if isinstance(value, int):
        seconds = value
    elif isinstance(value, str) and _UNIX.match(value):
        seconds = int(value)
    elif isinstance(value, str):
        seconds = _iso(name, value)
    else:
        raise InvalidParams(f"{name}: expected UNIX seconds or an ISO 8601 date/time")
    if not 0 <= seconds <= MAX_TIME:
        raise InvalidParams(f"{name}: out of range")
    return seconds


def _iso(name: str, text: str) -> int:
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp())
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidParams(
            f"{name}: {text[:40]!r} is neither UNIX seconds nor an ISO 8601 date/time"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp())


def parse_request(params: Mapping[str, Any]) -> ExportRequest:
    """``{from, to, format, currency?}``; InvalidParams names the first thing wrong."""
    unknown = set(params) - PARAMS
    if unknown:
        raise InvalidParams(f"unknown parameter {min(unknown)!r}")
    for name in ("from", "to", "format"):
        if params.get(name) is None:
            raise InvalidParams(f"{name}: required")
    start, end = parse_time("from", params["from"]), parse_time("to", params["to"])
    if end <= start:
        raise InvalidParams("to: must be after from")
    fmt = params["format"]
    if fmt not in FORMATS:
        raise InvalidParams(f"format: one of {', '.join(FORMATS)}")
    currency = params.get("currency")
    if currency is not None and (not isinstance(currency, str) or not _CURRENCY.match(currency)):
        raise InvalidParams("currency: expected an ISO 4217 code such as USD")
    return ExportRequest(start, end, str(fmt), currency.upper() if currency else None)


def iso(seconds: int) -> str:
    """``2026-12-07T10:00:00Z``."""
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def day(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d")

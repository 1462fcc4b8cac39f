"""The configuration as the dashboard shows it: every value, secrets masked.

A ``Secret`` shows where it comes from, never its value; so does any value whose key names
a secret (``secret``, ``password``, ``token``, ``key``, ...), wherever it is nested
(plugin sections are free-form mappings). A database URL loses its password.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

from xbtcpay.core.secrets import Secret

MASK = "********"
_SECRET_NAME = re.compile(
    r"secret|password|passwd|token|api_?key|private|credential|mnemonic|seed|signing", re.I
)
_URL_PASSWORD = re.compile(r"(://[^:/@]+:)[^@]+@")


def masked(value: Any, key: str = "") -> Any:
    """A JSON-ready copy of ``value`` with every secret replaced."""
    if isinstance(value, Secret):
        return f"{MASK} (from {value.source})"
    if key and _SECRET_NAME.search(key) and _is_plain(value):
        return MASK
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: masked(getattr(value, f.name), f.name) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): masked(v, str(k)) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [masked(v, key) for v in value]
    if isinstance(value, str):
        return _URL_PASSWORD.sub(rf"\g<1>{MASK}@", value)
    if isinstance(value, (int, float, bool)) or value is None:
        return value
    if isinstance(value, (Decimal, Path)):
        return str(value)
    return str(value)


def _is_plain(value: Any) -> bool:
    """A non-empty scalar (a nested section under a secret-like name is walked instead)."""
    if value in (None, "") or isinstance(value, bool):
        return False
    return not isinstance(value, (Mapping, list, tuple)) and not dataclasses.is_dataclass(value)

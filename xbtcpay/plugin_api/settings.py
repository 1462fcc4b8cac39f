"""Checking a plugin's own ``plugins.<name>`` section: a misspelled key stops start-up.

Each plugin parses its section itself; without this check a typo (``api_bse``) would be
ignored and the default silently used, the same mistake the core refuses in its sections.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from xbtcpay.core.errors import PluginError
from xbtcpay.core.settings import unknown_keys

__all__ = ["refuse_unknown_keys", "unknown_keys"]


def refuse_unknown_keys(where: str, section: Mapping[Any, Any], known: Iterable[str]) -> None:
    """Raise ``PluginError`` naming every key of ``section`` (at ``where``, e.g.
    ``plugins.stripe``) that is not one of ``known``, on one line."""
    problems = unknown_keys(where, section, known)
    if problems:
        raise PluginError("; ".join(problems))

"""Message catalogs of the checkout page (one JSON file per language) and language choice."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from types import MappingProxyType

DEFAULT_LANGUAGE = "en"


@dataclass(frozen=True)
class Catalog:
    """The messages of one language; ``text`` fills ``{placeholders}``."""

    language: str
    messages: Mapping[str, str]

    def text(self, key: str, **values: object) -> str:
        return self.messages[key].format(**values)


def load_catalogs() -> dict[str, Catalog]:
    """Every catalog shipped in ``checkout_files/messages`` (en is the reference)."""
    folder = resources.files("xbtcpay.web") / "checkout_files" / "messages"
    out: dict[str, Catalog] = {}
    for entry in folder.iterdir():
        if entry.name.endswith(".json"):
            lang = entry.name.removesuffix(".json")
            out[lang] = Catalog(lang, MappingProxyType(json.loads(entry.read_text("utf-8"))))
    reference = set(out[DEFAULT_LANGUAGE].messages)
    for catalog in out.values():
        missing = reference - set(catalog.messages)
        if missing:
            raise RuntimeError(f"catalog {catalog.language} misses {sorted(missing)}")
    return out


def choose_language(
    query: str | None, accept: str | None, available: set[str] | frozenset[str]
) -> str:
    """``?lang=`` if available, else the best Accept-Language match, else English."""
    if query and query.lower() in available:
        return query.lower()
    for lang in _accepted(accept or ""):
        if lang in available:
            return lang
    return DEFAULT_LANGUAGE


def _accepted(header: str) -> list[str]:
    """Primary language tags of an Accept-Language header, best first (q=0 dropped)."""
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate(header.split(",")[:32]):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                continue
        primary = tag.strip().split("-")[0].lower()
        if primary and primary != "*" and quality > 0:
            ranked.append((-quality, position, primary))
    return [lang for _, _, lang in sorted(ranked)]

"""The dashboard's languages: the checkout page's three (English, German, Spanish).

One JSON catalog per language in ``messages/`` (English is the reference every other
must match); the language is ``?lang=`` (remembered in a cookie), else the cookie, else
the browser's Accept-Language, else English.
"""

from __future__ import annotations

import json
from importlib import resources
from types import MappingProxyType

from aiohttp import web

from xbtcpay.web.messages import DEFAULT_LANGUAGE, Catalog, choose_language

LANGUAGE_COOKIE = "xbtcpay_lang"


class Translations:
    def __init__(self) -> None:
        folder = resources.files("xbtcpay.web.admin") / "messages"
        self.catalogs: dict[str, Catalog] = {}
        for entry in folder.iterdir():
            if entry.name.endswith(".json"):
                lang = entry.name.removesuffix(".json")
                texts = json.loads(entry.read_text("utf-8"))
                self.catalogs[lang] = Catalog(lang, MappingProxyType(texts))
        reference = set(self.catalogs[DEFAULT_LANGUAGE].messages)
        for catalog in self.catalogs.values():
            if set(catalog.messages) != reference:
                raise RuntimeError(f"dashboard catalog {catalog.language} differs from en")
        self.languages = tuple(sorted(self.catalogs))

    def language(self, request: web.Request) -> str:
        asked = request.query.get("lang") or request.cookies.get(LANGUAGE_COOKIE)
        return choose_language(asked, request.headers.get("Accept-Language"), set(self.languages))

    def catalog(self, lang: str) -> Catalog:
        return self.catalogs[lang]

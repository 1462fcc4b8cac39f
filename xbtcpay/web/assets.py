"""The checkout page's static files, loaded once from the package and served from memory.

URLs carry the content hash (``?v=``), so a versioned URL is cached for a year and a new
release is fetched at once; the fixed ``/widget.js`` is cached for five minutes. Every file
has a strong ETag and answers ``If-None-Match`` with 304.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib import resources

from aiohttp import web

TYPES = {
    ".css": "text/css",
    ".js": "text/javascript",
    ".html": "text/html",
    ".svg": "image/svg+xml",
}
IMMUTABLE = "public, max-age=31536000, immutable"
SHORT = "public, max-age=300"


@dataclass(frozen=True)
class Asset:
    name: str
    body: bytes
    content_type: str
    version: str

    @property
    def etag(self) -> str:
        return f'"{self.version}"'


def load_asset(name: str) -> Asset:
    body = (resources.files("xbtcpay.web") / "checkout_files" / name).read_bytes()
    suffix = name[name.rfind(".") :]
    return Asset(name, body, TYPES[suffix], hashlib.sha256(body).hexdigest()[:16])


def asset_url(prefix: str, asset: Asset) -> str:
    return f"{prefix}{asset.name}?v={asset.version}"


def serve_asset(request: web.Request, asset: Asset) -> web.Response:
    versioned = request.query.get("v") == asset.version
    headers = {
        "Cache-Control": IMMUTABLE if versioned else SHORT,
        "ETag": asset.etag,
        "X-Content-Type-Options": "nosniff",
    }
    if asset.etag in request.headers.get("If-None-Match", ""):
        return web.Response(status=304, headers=headers)
    return web.Response(
        body=asset.body, content_type=asset.content_type, charset="utf-8", headers=headers
    )

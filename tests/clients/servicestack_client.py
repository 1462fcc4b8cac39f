"""A ServiceStack-style client of ``POST /User/Purchase``, written from the service's page.

What the app team writes: the request DTO in PascalCase, sent as JSON (``JsonServiceClient``:
``Content-Type``/``Accept: application/json``) or as JSV (``JsvServiceClient``: ``text/jsv``
both ways); a 4xx answer raised as ``WebServiceException`` carrying the ``ResponseStatus``.
It reads decimals as exact numbers (JSON numbers parsed as Decimal). Pointing it at xbtcpay
changes only ``base_url``. Its JSV is its own small writer and reader, not xbtcpay's.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import aiohttp

BASE_URL = "https://tstsrvs.redhotpie.com.au"


class WebServiceException(Exception):
    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(f"{status}: {body.get('ResponseStatus')}")
        self.status = status
        self.body = body
        self.response_status: dict[str, Any] = body.get("ResponseStatus") or {}

    @property
    def error_code(self) -> str:
        return str(self.response_status.get("ErrorCode"))


class JsonServiceClient:
    content_type = "application/json"

    def __init__(self, session: aiohttp.ClientSession, base_url: str, **headers: str) -> None:
        self.session = session
        self.base_url = base_url.rstrip("/")
        self.headers = headers

    def encode(self, dto: dict[str, Any]) -> str:
        return json.dumps(dto, default=str)

    def decode(self, text: str) -> dict[str, Any]:
        return dict(json.loads(text, parse_float=Decimal))

    async def post(self, path: str, dto: dict[str, Any], query: str = "") -> dict[str, Any]:
        headers = {"Content-Type": self.content_type, "Accept": self.content_type, **self.headers}
        async with self.session.post(
            f"{self.base_url}{path}{query}", data=self.encode(dto).encode(), headers=headers
        ) as resp:
            text = await resp.text()
            body = self.decode(text)
            if resp.status >= 400:
                raise WebServiceException(resp.status, body)
            return body

    async def purchase(self, dto: dict[str, Any]) -> dict[str, Any]:
        return await self.post("/User/Purchase", dto)


class JsvServiceClient(JsonServiceClient):
    content_type = "text/jsv"

    def encode(self, dto: dict[str, Any]) -> str:
        return write_jsv(dto)

    def decode(self, text: str) -> dict[str, Any]:
        value = read_jsv(text)
        assert isinstance(value, dict), text
        return value


def write_jsv(value: Any) -> str:
    """ServiceStack's JSV as its page describes it (nulls left out)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, dict):
        inner = ",".join(f"{k}:{write_jsv(v)}" for k, v in value.items() if v is not None)
        return "{" + inner + "}"
    if isinstance(value, list):
        return "[" + ",".join(write_jsv(v) for v in value) + "]"
    text = str(value)
    if text == "" or any(c in text for c in '[]{},"') or text != text.strip():
        return '"' + text.replace('"', '""') + '"'
    return text


def read_jsv(text: str) -> Any:
    value, rest = _value(text.strip())
    assert rest.strip() == "", rest
    return value


def _value(text: str) -> tuple[Any, str]:
    text = text.lstrip()
    if text.startswith("{"):
        out: dict[str, Any] = {}
        text = text[1:].lstrip()
        while not text.startswith("}"):
            name, _, text = text.partition(":")
            out[name.strip()], text = _value(text)
            text = text.lstrip().removeprefix(",")
            text = text.lstrip()
        return out, text[1:]
    if text.startswith("["):
        items: list[Any] = []
        text = text[1:].lstrip()
        while not text.startswith("]"):
            item, text = _value(text)
            items.append(item)
            text = text.lstrip().removeprefix(",").lstrip()
        return items, text[1:]
    if text.startswith('"'):
        i, chars = 1, []
        while True:
            if text[i] == '"' and text[i + 1 : i + 2] == '"':
                chars.append('"')
                i += 2
            elif text[i] == '"':
                return "".join(chars), text[i + 1 :]
            else:
                chars.append(text[i])
                i += 1
    end = min([i for i in (text.find(","), text.find("}"), text.find("]")) if i >= 0] + [len(text)])
    return text[:end].strip() or None, text[end:]

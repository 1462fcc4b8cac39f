"""A call's parameters from wherever a compatible client puts them: the query string, a form
body (``application/x-www-form-urlencoded`` or ``multipart/form-data``) or a JSON object.

Query and form values arrive as text; the methods' own parsers read numbers and flags in
their text forms, so nothing is converted here. A name given twice (twice in the query, or in
the query and the body with different values) is refused rather than one of them silently
winning; so is an uploaded file and a JSON body that is not an object.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Final
from urllib.parse import parse_qsl

from aiohttp import web

from xbtcpay.core.errors import InvalidRequest, ParseError
from xbtcpay.core.jsonio import JsonError, loads
from xbtcpay.web.bodies import read_limited

FORM_TYPES: Final = frozenset({"application/x-www-form-urlencoded", "multipart/form-data"})
MAX_FIELDS: Final = 200


async def call_params(request: web.Request, max_body: int) -> dict[str, Any]:
    """The merged parameters of ``request``, or the RpcError (InvalidRequest, ParseError)."""
    params = _pairs(request.query.items(), "query string")
    body = await read_limited(request, max_body)
    if body is None:
        raise InvalidRequest("body too large")
    if not body.strip():
        return params
    for name, value in (await _body_params(request, body)).items():
        if name in params and params[name] != value:
            raise InvalidRequest(f"{name} given twice with different values")
        params[name] = value
    return params


async def _body_params(request: web.Request, body: bytes) -> dict[str, Any]:
    kind = request.content_type
    if kind == "application/x-www-form-urlencoded":
        try:
            text = body.decode("utf-8")
            pairs = parse_qsl(text, keep_blank_values=True, max_num_fields=MAX_FIELDS)
        except (UnicodeDecodeError, ValueError):
            raise InvalidRequest("form body must be UTF-8 text of at most 200 fields") from None
        return _pairs(pairs, "form body")
    if kind == "multipart/form-data":
        try:
            form = await request.post()
        except ValueError:
            raise InvalidRequest("unreadable multipart form body") from None
        for value in form.values():
            if not isinstance(value, str):
                raise InvalidRequest("file uploads are not parameters")
        return _pairs(((k, str(v)) for k, v in form.items()), "form body")
    try:
        value = loads(body)
    except JsonError:
        raise ParseError("body must be JSON or form fields") from None
    if not isinstance(value, dict):
        raise InvalidRequest("a JSON body must be an object")
    return value


def _pairs(pairs: Iterable[tuple[str, str]], where: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for count, (name, value) in enumerate(pairs, 1):
        if count > MAX_FIELDS:
            raise InvalidRequest(f"at most {MAX_FIELDS} parameters in the {where}")
        if name in out:
            raise InvalidRequest(f"{name} given twice in the {where}")
        out[name] = value
    return out

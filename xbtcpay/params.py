"""Validation of the parameters every payment-creating method shares (core and plugins)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from xbtcpay.errors import InvalidParams
from xbtcpay.jsonio import dumps
from xbtcpay.postback import valid_postback_url
from xbtcpay.postback_target import refused_url

MAX_DATA_BYTES = 65536


def data_text(value: Any) -> str:
    """The shop's ``data`` as JSON text, stored as the original did (``null`` when absent)."""
    text = dumps(value)
    if len(text.encode()) > MAX_DATA_BYTES:
        raise InvalidParams(f"data larger than {MAX_DATA_BYTES} bytes")
    return text


def postback_url(params: Mapping[str, Any]) -> str | None:
    """``params.postback_url`` if given: an http(s) URL, else ``Invalid params: invalid postback URL``."""
    value = params.get("postback_url")
    if value is None or value is False:
        return None
    if not valid_postback_url(value):
        raise InvalidParams("invalid postback URL")
    return str(value)


def check_postback_target(params: Any, *, allow_private: bool) -> None:
    """Refuse a ``postback_url`` naming a local or private address (any method, before it runs).

    Every payment-creating method, core or plugin, takes the URL under this one name, so the
    check runs once for all of them where the call is dispatched. The delivery path checks
    again after DNS resolution (``xbtcpay.postback_target``).
    """
    if allow_private or not isinstance(params, Mapping):
        return
    value = params.get("postback_url")
    if valid_postback_url(value) and refused_url(str(value)):
        raise InvalidParams("postback URL points to a local or private address")

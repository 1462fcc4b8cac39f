"""One registry of callable methods, shared by JSON-RPC, /api/v0/rpc and the WebSocket."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from xbtcpay.core.errors import InvalidParams, MethodNotFound
from xbtcpay.plugin_api import CallContext, MethodHandler


class MethodRegistry:
    """Method name -> handler."""

    def __init__(self) -> None:
        self._methods: dict[str, MethodHandler] = {}

    def add(self, name: str, handler: MethodHandler) -> None:
        if name in self._methods:
            raise ValueError(f"method {name!r} registered twice")
        self._methods[name] = handler

    def names(self) -> list[str]:
        return sorted(self._methods)

    async def call(self, name: Any, params: Any, ctx: CallContext) -> Any:
        handler = self._methods.get(name) if isinstance(name, str) else None
        if handler is None:
            raise MethodNotFound()
        if params is None:
            params = {}
        if not isinstance(params, Mapping):
            raise InvalidParams("params must be an object")
        return await handler(params, ctx)

"""The one dispatcher behind every transport of both ports.

JSON-RPC 2.0, ``/api/v0/rpc/<method>`` and the WebSocket each decode their own wire format,
ask the port's policy (``xbtcpay.web.policy``) what the caller may send, call ``Dispatcher.call``
and encode the result or the error. The dispatcher refuses a private ``postback_url`` for
every method at once, calls the registry and turns an unexpected failure into an
``InternalError`` (logged with its traceback, never shown to the caller). A refused call is
logged at info with the reason the caller was given (never its params, which may carry
secrets), so a shop developer can find why their call failed in the daemon's log.
"""

from __future__ import annotations

from typing import Any

import structlog

from xbtcpay.core.errors import InternalError, RpcError
from xbtcpay.core.params import check_postback_target
from xbtcpay.core.registry import MethodRegistry
from xbtcpay.plugin_api import CallContext

log = structlog.get_logger("xbtcpay.rpc")


class Dispatcher:
    """Calls one method by name for any transport."""

    def __init__(self, registry: MethodRegistry, *, allow_private_postbacks: bool) -> None:
        self.registry = registry
        self.allow_private_postbacks = allow_private_postbacks

    async def call(self, method: str, params: Any, ctx: CallContext) -> Any:
        """The method's result, or the RpcError to answer (InternalError for any other)."""
        structlog.contextvars.bind_contextvars(method=method, transport=ctx.transport)
        try:
            check_postback_target(params, allow_private=self.allow_private_postbacks)
            return await self.registry.call(method, params, ctx)
        except RpcError as exc:
            if not isinstance(exc, InternalError):
                log.info("rpc.refused", code=exc.code, why=exc.message, client=ctx.client_ip)
            raise
        except Exception as exc:
            log.exception("rpc.method_failed")
            raise InternalError() from exc
        finally:
            structlog.contextvars.unbind_contextvars("method", "transport")

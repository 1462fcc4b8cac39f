"""The project's exception tree.

    XbtcpayError
    ├── ConfigError              bad configuration (start-up stops)
    ├── RpcError                 a JSON-RPC error with code and message
    │   ├── ParseError           -32700
    │   ├── InvalidRequest       -32600
    │   ├── MethodNotFound       -32601
    │   ├── InvalidParams        -32602
    │   └── InternalError        -32603
    ├── NotFound                 unknown payment / postback (HTTP 404, RPC -32004)
    ├── InvalidTransition        a state-machine event that the table refuses
    ├── StorageError             the database refused a write (read-only, disk full)
    ├── ConstraintViolation      a unique / foreign-key constraint refused a unit of work
    ├── PluginError              a plugin failed to load or start
    └── ChainError               the node answered badly or not at all

Each RpcError carries its JSON-RPC code and HTTP status; how every transport answers them
is looked up in one table, ``xbtcpay.web.errors``.
"""

from __future__ import annotations

from typing import Any


class XbtcpayError(Exception):
    """Root of every error raised on purpose by xbtcpay."""


class ConfigError(XbtcpayError):
    """The configuration is invalid; ``problems`` holds one line per problem."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


class RpcError(XbtcpayError):
    """An error that is answered as a JSON-RPC error object."""

    code = -32603
    base_message = "Internal error"
    http_status = 200

    def __init__(self, detail: str | None = None, data: Any = None) -> None:
        self.detail = detail
        self.data = data
        super().__init__(self.message)

    @property
    def message(self) -> str:
        # The original 0xBTCpay formats messages as "<base>: <detail>".
        return f"{self.base_message}: {self.detail}" if self.detail else self.base_message


class ParseError(RpcError):
    code = -32700
    base_message = "Parse error"


class InvalidRequest(RpcError):
    code = -32600
    base_message = "Invalid request"


class MethodNotFound(RpcError):
    code = -32601
    base_message = "Method not found"


class InvalidParams(RpcError):
    code = -32602
    base_message = "Invalid params"


class InternalError(RpcError):
    code = -32603
    base_message = "Internal error"


class NotFound(RpcError):
    code = -32004
    base_message = "Not found"
    http_status = 404


class Conflict(RpcError):
    """The request clashes with existing state (e.g. order_id reused with other params)."""

    code = -32009
    base_message = "Conflict"
    http_status = 409


class ProviderError(RpcError):
    """A payment provider refused or failed a call; detail is safe to show."""

    code = -32010
    base_message = "Provider error"
    http_status = 502


class StorageError(RpcError):
    """The database could not take a write; nothing was half-written."""

    code = -32011
    base_message = "Storage unavailable"
    http_status = 503


class InvalidTransition(XbtcpayError):
    """The state table has no transition for (state, event)."""

    def __init__(self, state: str, event: str) -> None:
        super().__init__(f"no transition from {state!r} on {event!r}")
        self.state = state
        self.event = event


class PluginError(XbtcpayError):
    """A plugin could not be found, is incompatible, or failed to start."""


class ChainError(XbtcpayError):
    """The Ethereum node failed or answered something unusable."""


class ConstraintViolation(XbtcpayError):
    """A unique or foreign-key constraint refused a write; the unit of work rolled back.

    Raised by both storage engines instead of their driver's integrity errors."""

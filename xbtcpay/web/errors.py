"""How an error is answered, on every transport: one table, one lookup.

The errors raised on purpose on a call path (``xbtcpay.core.errors``, ``xbtcpay.commerce
.errors``, ``xbtcpay.commerce.media_access.errors`` and the plugins' own) are ``RpcError``
subclasses, each carrying its JSON-RPC code and its own HTTP status::

    RpcError                          code    /api/v0/rpc   other routes   (JSON-RPC: 200)
    ├── ParseError                  -32700        400            200
    ├── InvalidRequest              -32600        400            200
    ├── MethodNotFound              -32601        404            200
    ├── InvalidParams               -32602        400            200
    ├── InternalError               -32603        500            200
    ├── NotFound                    -32004        404            404
    ├── Conflict                    -32009        409            409
    ├── ProviderError               -32010        502            502
    ├── StorageError                -32011        503            503
    ├── Unauthorized                -32001        401            401
    ├── Forbidden                   -32003        403            403
    ├── InsufficientBalance         -32012        402            402
    └── any other (plugins, media)   own     own, or 400       own

JSON-RPC 2.0 (``POST /``) answers every error with HTTP 200, as the original 0xBTCpay did.
The ``{data, error}`` transports (``/api/v0/rpc/<method>``, the public port's refusals, the
purchase endpoint's refusals) answer the status of the standard JSON-RPC codes above, else
the error's own status, else 400: an error is never answered 200 there. Any other route
(plugin webhooks, pages) answers the error's own status (the error middleware).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from xbtcpay.core.errors import (
    InternalError,
    InvalidParams,
    InvalidRequest,
    MethodNotFound,
    ParseError,
    RpcError,
)

# The five standard JSON-RPC codes carry no HTTP status of their own (200).
API_STATUS_OF_CODE: Final[dict[int, int]] = {
    ParseError.code: 400,
    InvalidRequest.code: 400,
    MethodNotFound.code: 404,
    InvalidParams.code: 400,
    InternalError.code: 500,
}


@dataclass(frozen=True)
class ErrorAnswer:
    """What every transport says about one error."""

    code: int
    message: str
    data: Any
    api_status: int  # the {data, error} transports
    route_status: int  # any other route (the error middleware)

    def rpc_object(self) -> dict[str, Any]:
        """The JSON-RPC 2.0 error object (``data`` only when there is some)."""
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.data is not None:
            error["data"] = self.data
        return error

    def envelope_error(self) -> dict[str, Any]:
        """The ``error`` member of a ``{data, error}`` answer."""
        return {"status": True, "code": self.code, "message": self.message}


def answer_of(exc: RpcError) -> ErrorAnswer:
    """The one lookup: how ``exc`` is answered."""
    own = exc.http_status
    api = API_STATUS_OF_CODE.get(exc.code, own if own != 200 else 400)
    return ErrorAnswer(exc.code, exc.message, exc.data, api, own)

"""Errors of the commerce layer (subtrees of ``xbtcpay.core.errors.RpcError``).

RpcError
├── Unauthorized         -32001  no, expired, forged or wrong-key session (HTTP 401)
├── Forbidden            -32003  a valid session asking for what is not its own (HTTP 403)
├── InsufficientBalance  -32012  a debit larger than the balance (HTTP 402)
└── SessionsUnavailable  -32013  the shop's session introspection cannot answer (HTTP 503)
"""

from __future__ import annotations

from xbtcpay.core.errors import RpcError


class Unauthorized(RpcError):
    code = -32001
    base_message = "Unauthorized"
    http_status = 401


class Forbidden(RpcError):
    code = -32003
    base_message = "Forbidden"
    http_status = 403


class InsufficientBalance(RpcError):
    code = -32012
    base_message = "Insufficient balance"
    http_status = 402


class SessionsUnavailable(RpcError):
    """Opaque sessions cannot be checked now (the shop's introspection endpoint is down):
    fail closed, the caller may retry."""

    code = -32013
    base_message = "Sessions unavailable"
    http_status = 503

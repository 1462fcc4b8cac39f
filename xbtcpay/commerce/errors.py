"""Errors of the commerce layer (subtrees of ``xbtcpay.core.errors.RpcError``).

RpcError
├── Unauthorized         -32001  no, expired, forged or wrong-key session (HTTP 401)
├── Forbidden            -32003  a valid session asking for what is not its own (HTTP 403)
└── InsufficientBalance  -32012  a debit larger than the balance (HTTP 402)
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

"""Errors of the commerce methods (all RpcErrors, answered over every transport).

RpcError
├── VoucherRefused       -32020  the code is unknown, disabled, outside its window, used up
├── TooManyAttempts      -32029  too many failed voucher attempts (HTTP 429)
├── ProviderUnavailable  -32021  the provider's plugin is not enabled / not installed
├── ProviderUnsupported  -32022  the provider is not supported by this processor
└── TransactionRefused   -32023  the transaction cannot do this in its current state
"""

from __future__ import annotations

from xbtcpay.core.errors import RpcError


class VoucherRefused(RpcError):
    code = -32020
    base_message = "Voucher refused"
    http_status = 400


class TooManyAttempts(RpcError):
    code = -32029
    base_message = "Too many failed attempts"
    http_status = 429


class ProviderUnavailable(RpcError):
    code = -32021
    base_message = "Provider not available"
    http_status = 400


class ProviderUnsupported(RpcError):
    code = -32022
    base_message = "Provider not supported"
    http_status = 400


class TransactionRefused(RpcError):
    code = -32023
    base_message = "Transaction refused"
    http_status = 409

"""The one error table: JSON-RPC code, /api/v0/rpc status and other routes' status per error."""

from __future__ import annotations

from xbtcpay.commerce.errors import Forbidden, InsufficientBalance, Unauthorized
from xbtcpay.core.errors import (
    Conflict,
    InternalError,
    InvalidParams,
    InvalidRequest,
    MethodNotFound,
    NotFound,
    ParseError,
    ProviderError,
    RpcError,
    StorageError,
)
from xbtcpay.web.errors import answer_of


class PluginRefusal(RpcError):
    code = -32099
    base_message = "Refused by a plugin"


class PluginTeapot(RpcError):
    code = -32098
    base_message = "Teapot"
    http_status = 418


def test_every_error_is_answered_from_one_table() -> None:
    errors: list[RpcError] = [
        ParseError(),
        InvalidRequest(),
        MethodNotFound(),
        InvalidParams(),
        InternalError(),
        NotFound(),
        Conflict(),
        ProviderError(),
        StorageError(),
        Unauthorized(),
        Forbidden(),
        InsufficientBalance(),
        PluginRefusal(),
        PluginTeapot(),
    ]
    rows = [(a.code, a.api_status, a.route_status) for a in map(answer_of, errors)]
    assert rows == [
        (-32700, 400, 200),
        (-32600, 400, 200),
        (-32601, 404, 200),
        (-32602, 400, 200),
        (-32603, 500, 200),
        (-32004, 404, 404),
        (-32009, 409, 409),
        (-32010, 502, 502),
        (-32011, 503, 503),
        (-32001, 401, 401),
        (-32003, 403, 403),
        (-32012, 402, 402),
        (-32099, 400, 200),
        (-32098, 418, 418),
    ]


def test_the_rpc_error_object_carries_data_only_when_there_is_some() -> None:
    assert answer_of(InvalidParams("amount")).rpc_object() == {
        "code": -32602,
        "message": "Invalid params: amount",
    }
    assert answer_of(NotFound("payment", data={"id": "x"})).rpc_object() == {
        "code": -32004,
        "message": "Not found: payment",
        "data": {"id": "x"},
    }
    assert answer_of(Forbidden("no")).envelope_error() == {
        "status": True,
        "code": -32003,
        "message": "Forbidden: no",
    }

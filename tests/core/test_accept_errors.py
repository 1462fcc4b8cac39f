"""The loop exception handler of the daemon: what it keeps quiet and what it reports."""

from __future__ import annotations

from typing import Any

from xbtcpay.web.connections import RateLimitedLog, accept_error_handler


class _Loop:
    def __init__(self) -> None:
        self.reported: list[dict[str, Any]] = []

    def default_exception_handler(self, context: dict[str, Any]) -> None:
        self.reported.append(context)


def _handle(context: dict[str, Any]) -> list[dict[str, Any]]:
    loop = _Loop()
    accept_error_handler(RateLimitedLog())(loop, context)  # type: ignore[arg-type]
    return loop.reported


def test_a_retry_of_a_listener_closed_while_out_of_descriptors_is_not_reported() -> None:
    context = {
        "message": "Exception in callback BaseSelectorEventLoop._start_serving(<function>)",
        "exception": ValueError("Invalid file descriptor: -1"),
    }
    assert _handle(context) == []


def test_other_errors_still_reach_the_default_handler() -> None:
    others = [
        {"message": "Exception in callback something_else()", "exception": ValueError("-1")},
        {"message": "Exception in callback _start_serving()", "exception": OSError("boom")},
        {"message": "Task exception was never retrieved", "exception": RuntimeError("x")},
    ]
    for context in others:
        assert _handle(context) == [context]

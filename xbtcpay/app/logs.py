"""structlog set-up: JSON lines for journald, readable console on a TTY."""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

from xbtcpay.web.middlewares import add_request_id

_SECRET_KEYS = ("secret", "private_key", "api_key", "password", "token", "signature")


def _redact(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """Last line of defence: values under secret-looking keys are never written."""
    for key in list(event):
        if any(word in key.lower() for word in _SECRET_KEYS):
            event[key] = "[redacted]"
    return event


def configure_logging(level: str = "info", fmt: str = "auto", *, final: bool = False) -> None:
    """Route structlog to stdout; ``fmt`` is auto (TTY -> console), json or console.

    ``final``: this configuration stays for the life of the process (the daemon), so each
    module's logger is built once, on its first use. Otherwise structlog builds a logger on
    every call, even one whose level drops the line: a few microseconds on every payment.
    Tools and tests that configure again keep building them per call."""
    use_console = fmt == "console" or (fmt == "auto" and sys.stdout.isatty())
    renderer: Any = (
        structlog.dev.ConsoleRenderer() if use_console else structlog.processors.JSONRenderer()
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            add_request_id,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            _redact,
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            getattr(logging, level.upper(), logging.INFO)
        ),
        logger_factory=structlog.PrintLoggerFactory(sys.stdout),
        cache_logger_on_first_use=final,
    )

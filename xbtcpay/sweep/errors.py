"""Errors of the sweep commands; each is one clear line for the operator."""

from __future__ import annotations

from xbtcpay.core.errors import XbtcpayError


class SweepRefused(XbtcpayError):
    """A plan, signed file or sweep that must not go ahead; nothing was moved."""

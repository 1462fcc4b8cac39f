"""xbtcpay plugin for JWT in-app payments (the WebPayment / navigator.mozPay model)."""

from __future__ import annotations

from xbtcpay_inapp.plugin import InAppPlugin

__all__ = ["InAppPlugin"]

"""xbtcpay plugin for Google Play purchases, subscriptions and real-time notifications."""

from __future__ import annotations

from xbtcpay_googleplay.plugin import GooglePlayPlugin

__all__ = ["GooglePlayPlugin"]

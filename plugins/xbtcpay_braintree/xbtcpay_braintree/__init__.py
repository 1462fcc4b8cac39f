"""Braintree for xbtcpay: drop-in nonce payments, subscriptions and webhook notifications."""

from __future__ import annotations

from xbtcpay_braintree.plugin import BraintreePlugin

__all__ = ["BraintreePlugin"]

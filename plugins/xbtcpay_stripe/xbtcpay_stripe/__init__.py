"""Stripe Checkout for xbtcpay: hosted checkout sessions, signed webhooks, reconciliation."""

from __future__ import annotations

from xbtcpay_stripe.plugin import StripePlugin

__all__ = ["StripePlugin"]

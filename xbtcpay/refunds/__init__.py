"""Refunds of crypto payments and the payouts that send them (docs/refunds.md)."""

"""xbtcpay plugin for App Store purchases (StoreKit 2, Server Notifications V2, receipts)."""

from __future__ import annotations

from xbtcpay_appstore.plugin import AppStorePlugin

__all__ = ["AppStorePlugin"]

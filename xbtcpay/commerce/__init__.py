"""The commerce layer: customers' subscriptions, entitlements, vouchers and transactions."""

"""xbtcpay: a self-hosted payment processor daemon."""

__version__ = "0.1.0"

"""The merchant dashboard under ``/admin`` (docs/dashboard.md)."""

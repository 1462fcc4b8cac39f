"""Persistence behind small store classes; SQL stays in this package."""

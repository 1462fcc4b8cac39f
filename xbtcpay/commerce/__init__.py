"""The commerce layer: customers, sessions, balances (an append-only ledger), purchases and
receipts. Configured by the ``sessions``, ``currencies``, ``companies`` and ``taxes`` sections
of config.yaml; prices come from ``products``."""

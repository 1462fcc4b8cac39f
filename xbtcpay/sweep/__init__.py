"""Sweeping received funds to the merchant's treasury (EIP-7702, no deposit key on the server).

    plan      (server)   which deposit addresses can be swept, with balances and nonces
    sign      (offline)  derive the deposit keys from the mnemonic, check, sign authorizations
    send      (server)   re-check, submit type-4 batches from the gas wallet, record
    funds                received, swept, unswept and the gas wallet's runway

See docs/funds.md for the security model.
"""

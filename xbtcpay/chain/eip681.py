"""EIP-681 payment request URIs, always with the chain id and an integer amount.

Token:  ``ethereum:<token>@<chainId>/transfer?address=<deposit>&uint256=<base units>``
Native: ``ethereum:<deposit>@<chainId>?value=<wei>``

Amounts are written as plain integers (never ``1.5e8``) so every wallet reads them the same way.
"""

from __future__ import annotations

import re

_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")


def _check(address: str | None, what: str) -> str:
    if not isinstance(address, str) or not _ADDRESS.fullmatch(address):
        raise ValueError(f"{what} must be a 0x-prefixed 20-byte address, got {address!r}")
    return address


def payment_uri(
    *, contract: str | None, native: bool, chain_id: int, address: str, units: int
) -> str:
    """The EIP-681 URI asking for ``units`` base units of an asset at deposit ``address``.

    ``native`` selects the ETH form (``units`` are wei); otherwise ``contract`` is the ERC-20
    token. Raises ValueError on a malformed address, a non-positive chain id or a negative or
    non-integer amount.
    """
    if isinstance(units, bool) or not isinstance(units, int) or units < 0:
        raise ValueError(f"units must be a non-negative integer, got {units!r}")
    if isinstance(chain_id, bool) or not isinstance(chain_id, int) or chain_id <= 0:
        raise ValueError(f"chain_id must be a positive integer, got {chain_id!r}")
    deposit = _check(address, "address")
    if native:
        return f"ethereum:{deposit}@{chain_id}?value={units}"
    token = _check(contract, "contract")
    return f"ethereum:{token}@{chain_id}/transfer?address={deposit}&uint256={units}"

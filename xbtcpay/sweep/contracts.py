"""The sweep contracts: SweepBatch (deploys the treasury's SweepDelegate) and SweepDelegate.

The batch creates its delegate with CREATE2 (salt 0), so the delegate's address is a pure
function of the batch's address and the treasury (``delegate_address``): the offline signer
checks a plan's delegate against its treasury without asking any node.
"""

from __future__ import annotations

from eth_abi.abi import encode
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

from xbtcpay.chain.devchain import artifact, calldata

DELEGATION_PREFIX = "0xef0100"
SALT = b"\x00" * 32


def delegate_init_code(treasury: str) -> bytes:
    """Creation code of the SweepDelegate paying ``treasury`` (the shipped artifact)."""
    code = bytes.fromhex(artifact("SweepDelegate")["bytecode"][2:])
    return code + encode(["address"], [to_checksum_address(treasury)])


def delegate_address(batch: str, treasury: str) -> str:
    """The address of the SweepDelegate that the SweepBatch at ``batch`` created for ``treasury``."""
    digest = keccak(
        b"\xff" + bytes.fromhex(batch[2:]) + SALT + keccak(delegate_init_code(treasury))
    )
    return str(to_checksum_address(digest[-20:]))


def delegation_code(delegate: str) -> str:
    """The code an account delegating to ``delegate`` carries (EIP-7702 designator)."""
    return DELEGATION_PREFIX + delegate[2:].lower()


def sweep_calldata(asset_contract: str | None, accounts: list[str]) -> str:
    """SweepBatch.sweep(token, accounts); the zero address as token sweeps ETH only."""
    token = asset_contract or "0x" + "00" * 20
    return calldata(
        "sweep(address,address[])",
        ["address", "address[]"],
        [to_checksum_address(token), [to_checksum_address(a) for a in accounts]],
    )


def delegate_sweep_calldata(asset_contract: str | None) -> str:
    """SweepDelegate.sweep(token), called on a delegated account directly."""
    token = asset_contract or "0x" + "00" * 20
    return calldata("sweep(address)", ["address"], [to_checksum_address(token)])

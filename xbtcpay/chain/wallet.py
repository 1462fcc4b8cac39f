"""Deposit addresses from a BIP44 account xpub (public derivation only, no private keys).

The xpub is the account-level key m/44'/60'/0'; address ``i`` is m/44'/60'/0'/0/i, the
same address a wallet holding the mnemonic derives with its private keys.

Every new crypto payment derives one address inside the database writer's transaction, so
``AddressDeriver`` keeps the external chain's parent key parsed once (``PublicKey``) and
goes from the tweaked child point straight to its uncompressed form and its keccak: one
point operation in libsecp256k1 and two hashes per address (``derive_child`` and
``public_key_to_address`` are the step-by-step reference the tests compare it with).
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

import coincurve
from Crypto.Hash import keccak as keccak_hash
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_XPUB_VERSIONS = {bytes.fromhex("0488b21e"), bytes.fromhex("043587cf")}  # xpub, tpub
HARDENED = 0x80000000


class InvalidXpub(ValueError):
    """The extended public key cannot be decoded."""


@dataclass(frozen=True)
class ExtendedKey:
    public_key: bytes  # 33-byte compressed point
    chain_code: bytes
    depth: int


def _b58decode_check(text: str) -> bytes:
    number = 0
    for char in text:
        index = _ALPHABET.find(char)
        if index < 0:
            raise InvalidXpub("not base58")
        number = number * 58 + index
    raw = number.to_bytes((number.bit_length() + 7) // 8, "big")
    raw = b"\x00" * (len(text) - len(text.lstrip("1"))) + raw
    payload, checksum = raw[:-4], raw[-4:]
    if hashlib.sha256(hashlib.sha256(payload).digest()).digest()[:4] != checksum:
        raise InvalidXpub("bad checksum")
    return payload


def parse_xpub(xpub: str) -> ExtendedKey:
    """Decode an xpub/tpub; raise InvalidXpub with a reason when it is not one."""
    payload = _b58decode_check(xpub.strip())
    if len(payload) != 78 or payload[:4] not in _XPUB_VERSIONS:
        raise InvalidXpub("not an extended public key (xpub/tpub)")
    key = payload[45:78]
    try:
        coincurve.PublicKey(key)
    except ValueError:
        raise InvalidXpub("public key is not on the curve") from None
    return ExtendedKey(public_key=key, chain_code=payload[13:45], depth=payload[4])


def derive_child(parent: ExtendedKey, index: int) -> ExtendedKey:
    """BIP32 CKDpub: non-hardened child ``index`` of ``parent``."""
    if not 0 <= index < HARDENED:
        raise ValueError("public derivation needs a non-hardened index")
    digest = hmac.new(
        parent.chain_code, parent.public_key + index.to_bytes(4, "big"), hashlib.sha512
    ).digest()
    tweak, chain_code = digest[:32], digest[32:]
    child = coincurve.PublicKey(parent.public_key).add(tweak)
    return ExtendedKey(child.format(compressed=True), chain_code, parent.depth + 1)


def public_key_to_address(public_key: bytes) -> str:
    """Checksummed Ethereum address of a secp256k1 public key."""
    uncompressed = coincurve.PublicKey(public_key).format(compressed=False)
    return to_checksum_address(keccak(uncompressed[1:])[-20:])


class AddressDeriver:
    """Derives receive addresses m/.../0/i from an account xpub (external chain cached)."""

    def __init__(self, xpub: str) -> None:
        external = derive_child(parse_xpub(xpub), 0)
        self._external = external
        self._point = coincurve.PublicKey(external.public_key)
        self._chain_code = external.chain_code
        self._prefix = external.public_key  # HMAC data is the parent key, then the index

    def address(self, index: int) -> str:
        """EIP-55 checksummed address ``index`` (what wallets and the CLI show)."""
        return to_checksum_address(self.lowercase_address(index))

    def lowercase_address(self, index: int) -> str:
        """Address ``index`` in lower case, the form payments are stored and matched in
        (it skips the EIP-55 checksum, a second keccak, that storage would drop again)."""
        if not 0 <= index < HARDENED:
            raise ValueError("public derivation needs a non-hardened index")
        digest = hmac.digest(self._chain_code, self._prefix + index.to_bytes(4, "big"), "sha512")
        child = self._point.add(digest[:32])
        point = child.format(compressed=False)[1:]
        return "0x" + keccak_hash.new(data=point, digest_bits=256).digest()[-20:].hex()

"""Deposit addresses from the account xpub match wallets that hold the mnemonic.

Three independent derivations are compared: xbtcpay's public derivation from the xpub,
eth-account's private BIP32 derivation from the seed, and bip_utils' BIP44 implementation.
"""

from __future__ import annotations

import hashlib

import pytest
from bip_utils import Bip39SeedGenerator, Bip44, Bip44Changes, Bip44Coins
from eth_account import Account
from eth_account.hdaccount import seed_from_mnemonic
from eth_account.hdaccount.deterministic import HDPath
from hypothesis import given, settings
from hypothesis import strategies as st

from xbtcpay.chain.devchain import DEV_MNEMONIC, account_xpub, dev_key, dev_xpub
from xbtcpay.chain.wallet import (
    AddressDeriver,
    InvalidXpub,
    derive_child,
    parse_xpub,
    public_key_to_address,
)

OTHER_MNEMONIC = (
    "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about"
)
_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def bip_utils_account(mnemonic: str) -> Bip44:
    seed = Bip39SeedGenerator(mnemonic).Generate()
    return Bip44.FromSeed(seed, Bip44Coins.ETHEREUM).Purpose().Coin().Account(0)


def eth_account_address(mnemonic: str, index: int) -> str:
    key = HDPath(f"m/44'/60'/0'/0/{index}").derive(seed_from_mnemonic(mnemonic, ""))
    return str(Account.from_key(key).address)


def b58check(payload: bytes) -> str:
    data = payload + hashlib.sha256(hashlib.sha256(payload).digest()).digest()[:4]
    number, text = int.from_bytes(data, "big"), ""
    while number:
        number, rem = divmod(number, 58)
        text = _B58[rem] + text
    return "1" * (len(data) - len(data.lstrip(b"\0"))) + text


def b58decode(text: str) -> bytes:
    number = 0
    for char in text:
        number = number * 58 + _B58.index(char)
    return number.to_bytes(82, "big")


def test_dev_xpub_is_the_bip44_account_key() -> None:
    assert dev_xpub() == bip_utils_account(DEV_MNEMONIC).PublicKey().ToExtended()
    assert (
        account_xpub(OTHER_MNEMONIC) == bip_utils_account(OTHER_MNEMONIC).PublicKey().ToExtended()
    )


@pytest.mark.parametrize("mnemonic", [DEV_MNEMONIC, OTHER_MNEMONIC])
def test_xpub_addresses_equal_private_derivation(mnemonic: str) -> None:
    deriver = AddressDeriver(account_xpub(mnemonic))
    external = bip_utils_account(mnemonic).Change(Bip44Changes.CHAIN_EXT)
    for index in range(26):
        expected = eth_account_address(mnemonic, index)
        assert deriver.address(index) == expected, index
        assert external.AddressIndex(index).PublicKey().ToAddress() == expected, index


def test_dev_keys_match_anvil_accounts() -> None:
    assert dev_key(0).address == "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
    assert AddressDeriver(dev_xpub()).address(10) == "0xBcd4042DE499D14e55001CcbB24a551F3b954096"
    assert dev_key(10).address == "0xBcd4042DE499D14e55001CcbB24a551F3b954096"


def test_indexes_never_collide() -> None:
    deriver = AddressDeriver(dev_xpub())
    addresses = [deriver.address(i) for i in range(200)]
    assert len(set(addresses)) == len(addresses)


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**31 - 1), st.integers(0, 2**31 - 1))
def test_distinct_indexes_give_distinct_addresses(a: int, b: int) -> None:
    deriver = AddressDeriver(dev_xpub())
    assert (deriver.address(a) == deriver.address(b)) == (a == b)


def test_hardened_index_is_refused() -> None:
    with pytest.raises(ValueError):
        derive_child(parse_xpub(dev_xpub()), 2**31)


def corrupt_key(xpub: str) -> str:
    payload = b58decode(xpub)[:78]
    return b58check(payload[:45] + b"\x02" + b"\xff" * 32)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (dev_xpub()[:-1] + ("A" if dev_xpub()[-1] != "A" else "B"), "checksum"),
        ("xpub0OIl" + dev_xpub()[8:], "base58"),
        (bip_utils_account(DEV_MNEMONIC).PrivateKey().ToExtended(), "extended public key"),
        (b58check(b"\x04\x88\xb2\x1e" + b"\0" * 10), "extended public key"),
        (corrupt_key(dev_xpub()), "curve"),
    ],
)
def test_bad_xpub_is_refused_with_a_reason(text: str, reason: str) -> None:
    with pytest.raises(InvalidXpub, match=reason):
        AddressDeriver(text)


@pytest.mark.parametrize("mnemonic", [DEV_MNEMONIC, OTHER_MNEMONIC])
def test_lowercase_address_is_the_step_by_step_derivation(mnemonic: str) -> None:
    """The deriver's fast path (parent point parsed once, no EIP-55 pass) gives, for many
    indexes, exactly the lower-cased address of ``derive_child`` + ``public_key_to_address``
    (which the tests above check against two independent implementations)."""
    deriver = AddressDeriver(account_xpub(mnemonic))
    external = derive_child(parse_xpub(account_xpub(mnemonic)), 0)
    indexes = [*range(300), 2**16, 2**24 + 7, 2**31 - 2, 2**31 - 1]
    for index in indexes:
        reference = public_key_to_address(derive_child(external, index).public_key)
        assert deriver.lowercase_address(index) == reference.lower(), index
        assert deriver.address(index) == reference, index


def test_lowercase_address_matches_the_dev_chain_accounts() -> None:
    deriver = AddressDeriver(dev_xpub())
    for index in (0, 10, 19):
        assert deriver.lowercase_address(index) == dev_key(index).address.lower()


def test_lowercase_address_refuses_a_hardened_index() -> None:
    deriver = AddressDeriver(dev_xpub())
    for index in (-1, 2**31, 2**32):
        with pytest.raises(ValueError, match="non-hardened"):
            deriver.lowercase_address(index)

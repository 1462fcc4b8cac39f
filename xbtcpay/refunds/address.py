"""Refund addresses: where a customer's money goes back to, checked before it is stored."""

from __future__ import annotations

import re

from eth_utils.address import to_checksum_address

_HEX = re.compile(r"^0x[0-9a-fA-F]{40}\Z")
ZERO = "0x" + "0" * 40


class BadAddress(ValueError):
    """Not an address money can be sent to; the message says why."""


def checked_address(text: object, *, require_checksum: bool) -> str:
    """The EIP-55 form of ``text``. A mixed-case address must carry a valid checksum (a
    mistyped character is caught); with ``require_checksum`` an all-lowercase or
    all-uppercase address is refused too (the claim page asks for the checksummed form)."""
    if not isinstance(text, str) or not _HEX.match(text.strip()):
        raise BadAddress("an address is 0x followed by 40 hexadecimal characters")
    text = text.strip()
    checksummed = str(to_checksum_address(text.lower()))
    body = text[2:]
    mixed = body != body.lower() and body != body.upper()
    if mixed and text != checksummed:
        raise BadAddress("the address's checksum does not match: check it for a typo")
    if require_checksum and text != checksummed:
        raise BadAddress("enter the address in its checksummed form (mixed case)")
    if text.lower() == ZERO:
        raise BadAddress("the zero address burns money")
    return checksummed

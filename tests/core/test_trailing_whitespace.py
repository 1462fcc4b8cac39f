"""Every validator refuses a valid value followed by a line end or a space: a customer id
``"alice\\n"`` would otherwise be another customer than ``"alice"``, ``"1\\n"`` an amount.

One table over the parsers (each row: a value it accepts, and how to run it), plus a guard
that no anchored pattern in the package or its plugins ends in ``$`` (which matches before
a final newline).
"""

from __future__ import annotations

import ast
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jwt
import pytest
from xbtcpay_braintree import params as braintree_params
from xbtcpay_stripe import checkout as stripe_checkout

from xbtcpay.commerce.currencies import Currency, parse_minor
from xbtcpay.commerce.media_access import params as media
from xbtcpay.commerce.purchases.requests import from_params
from xbtcpay.commerce.sessions import SessionVerifier, valid_customer
from xbtcpay.commerce.settings import SessionSettings
from xbtcpay.core.amounts import parse_amount
from xbtcpay.core.params import fiat_price
from xbtcpay.core.secrets import Secret

SUFFIXES = ["\n", "\r\n", " "]
AUD = Currency("AUD", 2)
SECRET = "session-secret-for-tests-0123456789abcdef"
VERIFIER = SessionVerifier(SessionSettings(algorithms=("HS256",), secret=Secret(SECRET)))


def _session_of(sub: str) -> Any:
    token = jwt.encode({"sub": sub, "exp": int(time.time()) + 600}, SECRET, algorithm="HS256")
    return VERIFIER.verify(token)


def _accepts(check: Callable[[str], Any], value: str) -> bool:
    """True when ``check`` takes ``value``: it neither raises nor answers False/None."""
    try:
        return check(value) not in (False, None)
    except Exception:  # each parser refuses in its own way (InvalidParams, ValueError, ...)
        return False


def _purchase(field: str) -> Callable[[str], Any]:
    def run(value: str) -> Any:
        params = {
            "customer": "alice",
            "product": "gem_pack",
            "purchase_token": "tok-00000001",
            "use_balance": True,
        }
        return from_params({**params, field: value})

    return run


PARSERS: list[tuple[str, str, Callable[[str], Any]]] = [
    ("session sub", "alice", _session_of),
    ("customer id", "alice", valid_customer),
    ("media customer", "alice", lambda v: media.customer_of({"customer": v})),
    ("media currency", "EUR", lambda v: media.currency({"currency": v})),
    ("media item", "42", lambda v: media.item_id({"item": v})),
    ("media transactionID", "42", lambda v: media.transaction_id({"transactionID": v})),
    ("media amount", "499", lambda v: media.minor_amount({"amount": v}, "amount")),
    ("balance amount", "1", lambda v: parse_minor(AUD, v)),
    ("balance amount (signed)", "-1.5", lambda v: parse_minor(AUD, v, allow_negative=True)),
    ("purchase customer", "alice", _purchase("customer")),
    ("purchase token", "tok-00000001", _purchase("purchase_token")),
    ("payment amount", "1.5", lambda v: parse_amount(v, decimals=8, max_amount=None)),
    ("fiat currency", "EUR", lambda v: fiat_price({"fiat": {"amount": "1", "currency": v}})),
    ("fiat amount", "1.5", lambda v: fiat_price({"fiat": {"amount": v, "currency": "EUR"}})),
    ("stripe customer", "alice", lambda v: stripe_checkout.optional_text({"c": v}, "c")),
    (
        "braintree customer",
        "alice",
        lambda v: braintree_params.customer({"customer": v}, required=True),
    ),
]


@pytest.mark.parametrize(("name", "valid", "check"), PARSERS, ids=[p[0] for p in PARSERS])
@pytest.mark.parametrize("suffix", SUFFIXES, ids=repr)
def test_a_valid_value_with_a_trailing_line_end_or_space_is_refused(
    name: str, valid: str, check: Callable[[str], Any], suffix: str
) -> None:
    assert _accepts(check, valid), f"{name}: the row's valid value must be accepted"
    assert not _accepts(check, valid + suffix), f"{name} accepted {valid + suffix!r}"


ROOT = Path(__file__).resolve().parents[2]
SOURCES = [ROOT / "xbtcpay", *sorted(ROOT.glob("plugins/xbtcpay_*/xbtcpay_*"))]


def _anchored_with_dollar(path: Path) -> list[str]:
    """The ``re.<fn>("^...$", ...)`` patterns written in one source file."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and isinstance(node.func.value, ast.Name)
            and node.func.value.id == "re"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
            and node.args[0].value.startswith("^")
            and node.args[0].value.endswith("$")
        ):
            found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {node.args[0].value}")
    return found


def test_no_anchored_pattern_ends_in_a_dollar() -> None:
    assert len(SOURCES) > 1  # the package and its plugins
    dollars = [
        hit
        for source in SOURCES
        for path in sorted(source.rglob("*.py"))
        for hit in _anchored_with_dollar(path)
    ]
    assert dollars == []

"""The optional CheckoutLink member of a plugin is documented in docs/plugins.md."""

from __future__ import annotations

from pathlib import Path

from xbtcpay.plugin_api import CheckoutLink

DOC = (Path(__file__).resolve().parents[2] / "docs" / "plugins.md").read_text()


def test_checkout_link_members_are_documented() -> None:
    members = {n for n in vars(CheckoutLink) if not n.startswith("_")}
    assert members and {m for m in members if f"`async {m}" not in DOC} == set()

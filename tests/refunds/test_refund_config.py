"""The ``refunds:`` and ``payouts:`` sections: the documented shape parses, and every
mistake stops start-up with one clear line (never echoing the payout key)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.harness import base_config
from xbtcpay.app.config import Config, parse_config
from xbtcpay.core.errors import ConfigError

KEY = "0x" + "4c" * 32
SENDER = "0x" + "ab" * 20


def config_with(tmp_path: Path, **sections: Any) -> Config:
    raw = base_config(tmp_path, {"assets": {"eth": {"native": True}}, **sections})
    return parse_config(raw, tmp_path / "config.yaml")


def test_the_documented_sections_parse(tmp_path: Path) -> None:
    (tmp_path / "payout.key").write_text(KEY + "\n")
    config = config_with(
        tmp_path,
        refunds={"claim_ttl": 3600},
        payouts={
            "method": "wallet",
            "wallet_key": {"file": str(tmp_path / "payout.key")},
            "max_per_refund": {"0xbtc": "500", "eth": "0.5"},
            "daily_limit": {"0xbtc": "2000", "eth": "2"},
        },
    )
    assert config.refunds.claim_ttl == 3600
    payouts = config.payouts
    assert payouts is not None and payouts.method == "wallet"
    assert payouts.wallet_key is not None and payouts.wallet_key.reveal() == KEY
    assert dict(payouts.max_per_refund) == {"0xbtc": Decimal(500), "eth": Decimal("0.5")}
    assert dict(payouts.daily_limit) == {"0xbtc": Decimal(2000), "eth": Decimal(2)}
    external = config_with(tmp_path, payouts={"method": "external", "from": SENDER})
    assert external.payouts is not None and external.payouts.from_address == SENDER
    plain = config_with(tmp_path)
    assert plain.payouts is None and plain.refunds.claim_ttl == 604800


@pytest.mark.parametrize(
    ("sections", "line"),
    [
        ({"refunds": {"claim_tll": 60}}, "refunds.claim_tll: unknown key"),
        ({"refunds": {"claim_ttl": 5}}, "refunds.claim_ttl"),
        (
            {"payouts": {"method": "wallet", "wallet_key": KEY, "dailylimit": {}}},
            "payouts.dailylimit",
        ),
        ({"payouts": {"method": "cheque"}}, "payouts.method: expected wallet or external"),
        ({"payouts": {"method": "external"}}, "payouts.from"),
        (
            {"payouts": {"method": "external", "from": SENDER, "wallet_key": KEY}},
            "payouts.wallet_key",
        ),
        ({"payouts": {"method": "wallet", "wallet_key": KEY, "from": SENDER}}, "payouts.from"),
        (
            {"payouts": {"method": "wallet", "wallet_key": KEY, "max_per_refund": {"doge": "1"}}},
            "payouts.max_per_refund.doge: not one of assets",
        ),
        (
            {"payouts": {"method": "wallet", "wallet_key": KEY, "daily_limit": {"eth": 2.5}}},
            "payouts.daily_limit.eth: expected a decimal string",
        ),
        ({"payouts": {"method": "wallet"}}, "payouts.wallet_key"),
    ],
)
def test_a_mistake_stops_start_up_with_one_clear_line(
    tmp_path: Path, sections: dict[str, Any], line: str
) -> None:
    with pytest.raises(ConfigError) as stopped:
        config_with(tmp_path, **sections)
    problems = stopped.value.problems
    assert any(p.startswith(line) for p in problems), problems
    assert KEY not in str(problems)

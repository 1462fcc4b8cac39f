"""The ``refunds:`` and ``payouts:`` sections of the config.

```yaml
refunds: {claim_ttl: 604800}             # seconds a claim link takes an address
payouts:
  method: wallet                         # or external
  wallet_key: {file: /etc/xbtcpay/payout.key}   # wallet: the payout hot wallet's key
  max_per_refund: {usdc_base: "500", eth: "0.5"} # per asset, in the asset's unit
  daily_limit:    {usdc_base: "2000", eth: "2"}
  from: "0x..."                          # external: the address refunds are paid from
```
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal, Protocol

from xbtcpay.chain.settings import ChainConfig
from xbtcpay.core.amounts import parse_amount
from xbtcpay.core.secrets import Secret, resolve_secret
from xbtcpay.core.settings import AssetConfig, Confirmations, Reader

_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}\Z")
DEFAULT_CLAIM_TTL = 7 * 86400


@dataclass(frozen=True)
class RefundsConfig:
    claim_ttl: int = DEFAULT_CLAIM_TTL


@dataclass(frozen=True)
class PayoutsConfig:
    method: Literal["wallet", "external"]
    wallet_key: Secret | None = None
    max_per_refund: Mapping[str, Decimal] = field(default_factory=dict)
    daily_limit: Mapping[str, Decimal] = field(default_factory=dict)
    from_address: str | None = None


class RefundInputs(Protocol):
    """What refunds and payouts read of the whole configuration."""

    @property
    def assets(self) -> dict[str, AssetConfig]: ...
    @property
    def refunds(self) -> RefundsConfig: ...
    @property
    def payouts(self) -> PayoutsConfig | None: ...
    def chain_of(self, asset: str) -> ChainConfig | None: ...
    def confirmations_for(self, asset: str) -> Confirmations: ...


def parse_refunds(r: Reader, raw: Any) -> RefundsConfig:
    """Read the optional ``refunds`` section (defaults when absent)."""
    if raw is None:
        return RefundsConfig()
    if not isinstance(raw, dict):
        r.bad("refunds", "expected a mapping")
        return RefundsConfig()
    r.known("refunds", raw, ("claim_ttl",))
    return RefundsConfig(r.int("refunds.claim_ttl", raw.get("claim_ttl", DEFAULT_CLAIM_TTL), 60))


def parse_payouts(
    r: Reader, raw: Any, base_dir: Path, assets: Collection[str]
) -> PayoutsConfig | None:
    """Read the optional ``payouts`` section; without it a refund cannot be approved."""
    if raw is None:
        return None
    if not isinstance(raw, dict):
        r.bad("payouts", "expected a mapping")
        return None
    r.known("payouts", raw, ("method", "wallet_key", "max_per_refund", "daily_limit", "from"))
    method = raw.get("method")
    if method not in ("wallet", "external"):
        r.bad("payouts.method", "expected wallet or external")
        return None
    key = None
    if method == "wallet":
        key = resolve_secret(raw.get("wallet_key"), base_dir, "payouts.wallet_key", r.problems)
    elif "wallet_key" in raw:
        r.bad("payouts.wallet_key", "only used with method: wallet")
    sender = raw.get("from")
    if method == "external" and not (isinstance(sender, str) and _ADDRESS.match(sender)):
        r.bad("payouts.from", "expected the 0x address refunds are paid from")
    elif method == "wallet" and sender is not None:
        r.bad("payouts.from", "only used with method: external (wallet pays from its key)")
    return PayoutsConfig(
        method,
        key,
        _limits(r, "payouts.max_per_refund", raw.get("max_per_refund"), assets),
        _limits(r, "payouts.daily_limit", raw.get("daily_limit"), assets),
        sender.lower() if isinstance(sender, str) and _ADDRESS.match(sender) else None,
    )


def _limits(r: Reader, where: str, raw: Any, assets: Collection[str]) -> dict[str, Decimal]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        r.bad(where, "expected a mapping of asset to amount")
        return {}
    limits: dict[str, Decimal] = {}
    for asset, value in raw.items():
        if asset not in assets:
            r.bad(f"{where}.{asset}", f"not one of assets: {', '.join(assets)}")
            continue
        amount = parse_amount(value, decimals=36, max_amount=None)
        if amount is None:
            r.bad(f"{where}.{asset}", 'expected a decimal string such as "0.5"')
            continue
        limits[str(asset)] = amount
    return limits

"""The ``sweep:`` section of the config.

```yaml
sweep:
  treasury: "0x..."                                      # where all funds go
  gas_wallet_key: {file: /etc/xbtcpay/gas-wallet.key}     # hex key of a small, low-value hot wallet
  batch: "0x..."                                         # printed by `xbtcpay sweep deploy`
  delegate: "0x..."                                      # optional; must be the batch's delegate
```
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from xbtcpay.chain.settings import ChainConfig
from xbtcpay.core.secrets import Secret, resolve_secret
from xbtcpay.core.settings import AssetConfig, PaymentsConfig, WalletConfig

_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}\Z")
_KEY = re.compile(r"^(0x)?[0-9a-fA-F]{64}\Z")
KNOWN = {"treasury", "gas_wallet_key", "batch", "delegate", "confirmations", "timeout"}


@dataclass(frozen=True)
class SweepConfig:
    treasury: str
    gas_wallet_key: Secret | None = None
    batch: str | None = None
    delegate: str | None = None
    confirmations: int | None = None  # None: the chain's confirmations
    timeout: float = 600.0  # seconds `sweep send` waits for confirmations


class SweepInputs(Protocol):
    """What planning, checking and sending a sweep read of the whole configuration: the
    ``sweep`` section, the node, the assets, the xpub the addresses come from and the late
    window (an address still expecting a late payment is not swept)."""

    @property
    def sweep(self) -> SweepConfig | None: ...
    @property
    def chain(self) -> ChainConfig: ...
    def chain_of(self, asset: str) -> ChainConfig | None: ...
    @property
    def assets(self) -> Mapping[str, AssetConfig]: ...
    @property
    def default_asset(self) -> str: ...
    @property
    def payments(self) -> PaymentsConfig: ...
    @property
    def wallet(self) -> WalletConfig: ...


def parse_sweep(raw: Any, base_dir: Path, problems: list[str]) -> SweepConfig | None:
    """Read the optional ``sweep`` section; append one line per problem."""
    if raw is None:
        return None
    if not isinstance(raw, dict):
        problems.append("sweep: expected a mapping")
        return None
    for key in raw:
        if key not in KNOWN:
            problems.append(f"sweep.{key}: unknown key (typo?)")
    treasury = _address(raw.get("treasury"), "sweep.treasury", problems, required=True)
    key = None
    if raw.get("gas_wallet_key") is not None:
        key = resolve_secret(raw["gas_wallet_key"], base_dir, "sweep.gas_wallet_key", problems)
        if key is not None and not _KEY.match(key.reveal()):
            problems.append("sweep.gas_wallet_key: expected a 32-byte hex private key")
    confirmations = raw.get("confirmations")
    if confirmations is not None and (
        isinstance(confirmations, bool) or not isinstance(confirmations, int) or confirmations < 1
    ):
        problems.append(f"sweep.confirmations: expected an integer >= 1, got {confirmations!r}")
    timeout = raw.get("timeout", 600)
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0:
        problems.append(f"sweep.timeout: expected a number of seconds > 0, got {timeout!r}")
        timeout = 600
    batch = _address(raw.get("batch"), "sweep.batch", problems)
    delegate = _address(raw.get("delegate"), "sweep.delegate", problems)
    if treasury and batch and delegate:
        from xbtcpay.sweep.contracts import delegate_address

        expected = delegate_address(batch, treasury)
        if delegate != expected:
            problems.append(
                f"sweep.delegate: {delegate} is not the delegate of sweep.batch for "
                f"sweep.treasury (that is {expected})"
            )
    return SweepConfig(
        treasury=treasury or "",
        gas_wallet_key=key,
        batch=batch,
        delegate=delegate,
        confirmations=confirmations if isinstance(confirmations, int) else None,
        timeout=float(timeout),
    )


def _address(value: Any, where: str, problems: list[str], required: bool = False) -> str | None:
    if value is None and not required:
        return None
    if not isinstance(value, str) or not _ADDRESS.match(value) or int(value, 16) == 0:
        problems.append(f"{where}: expected a 0x-prefixed 20-byte address, got {value!r}")
        return None
    from eth_utils.address import to_checksum_address

    return str(to_checksum_address(value))

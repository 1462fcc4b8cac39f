"""The ``sweep:`` section of the config.

```yaml
sweep:
  treasury: "0x..."                                      # where all funds go
  gas_wallet_key: {file: /etc/xbtcpay/gas-wallet.key}     # hex key of a small, low-value hot wallet
  batch: "0x..."                                         # printed by `xbtcpay sweep deploy`
  delegate: "0x..."                                      # optional; must be the batch's delegate
  chains:                                                # with several chains: per chain
    base: {batch: "0x...", delegate: "0x..."}            # `xbtcpay sweep deploy --chain base`
```

``batch``/``delegate`` at the top are the primary chain's (the default asset's); a chain of
``chains:`` without an entry here has no batch: its sweeps use the gas-station flow.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from xbtcpay.chain.settings import ChainConfig
from xbtcpay.core.secrets import Secret, resolve_secret
from xbtcpay.core.settings import AssetConfig, PaymentsConfig, WalletConfig

_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}\Z")
_KEY = re.compile(r"^(0x)?[0-9a-fA-F]{64}\Z")
KNOWN = {"treasury", "gas_wallet_key", "batch", "delegate", "confirmations", "timeout", "chains"}


@dataclass(frozen=True)
class ChainSweep:
    """The batch contract (and its delegate) deployed on one chain."""

    batch: str | None = None
    delegate: str | None = None


@dataclass(frozen=True)
class SweepConfig:
    treasury: str
    gas_wallet_key: Secret | None = None
    batch: str | None = None
    delegate: str | None = None
    confirmations: int | None = None  # None: the chain's confirmations
    timeout: float = 600.0  # seconds `sweep send` waits for confirmations
    chains: Mapping[str, ChainSweep] = field(default_factory=dict)  # by chain name


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
    _check_delegate(treasury, batch, delegate, "sweep", problems)
    chains: dict[str, ChainSweep] = {}
    section = raw.get("chains") or {}
    if not isinstance(section, dict):
        problems.append("sweep.chains: expected a mapping of chain name -> {batch, delegate}")
        section = {}
    for name, spec in section.items():
        where = f"sweep.chains.{name}"
        if not isinstance(spec, dict):
            problems.append(f"{where}: expected a mapping")
            continue
        problems.extend(f"{where}.{k}: unknown key (typo?)" for k in spec if k not in _PER_CHAIN)
        own_batch = _address(spec.get("batch"), f"{where}.batch", problems)
        own_delegate = _address(spec.get("delegate"), f"{where}.delegate", problems)
        _check_delegate(treasury, own_batch, own_delegate, where, problems)
        chains[str(name)] = ChainSweep(own_batch, own_delegate)
    return SweepConfig(
        treasury=treasury or "",
        gas_wallet_key=key,
        batch=batch,
        delegate=delegate,
        confirmations=confirmations if isinstance(confirmations, int) else None,
        timeout=float(timeout),
        chains=chains,
    )


_PER_CHAIN = ("batch", "delegate")


def _check_delegate(
    treasury: str | None, batch: str | None, delegate: str | None, where: str, problems: list[str]
) -> None:
    if treasury and batch and delegate:
        from xbtcpay.sweep.contracts import delegate_address

        expected = delegate_address(batch, treasury)
        if delegate != expected:
            problems.append(
                f"{where}.delegate: {delegate} is not the delegate of {where}.batch for "
                f"sweep.treasury (that is {expected})"
            )


def _address(value: Any, where: str, problems: list[str], required: bool = False) -> str | None:
    if value is None and not required:
        return None
    if not isinstance(value, str) or not _ADDRESS.match(value) or int(value, 16) == 0:
        problems.append(f"{where}: expected a 0x-prefixed 20-byte address, got {value!r}")
        return None
    from eth_utils.address import to_checksum_address

    return str(to_checksum_address(value))

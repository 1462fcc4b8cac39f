"""The ``chains:`` map: several EVM chains, each asset on one of them; the single ``chain:``
section is still the one chain ``main``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.harness import base_config, write_config
from xbtcpay.app.config import Config, load_config
from xbtcpay.chain.settings import scopes_of
from xbtcpay.core.errors import ConfigError

TOKEN = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
USDC = "0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913"

# the config contract of the issue, as outside tests write it
CONTRACT: dict[str, Any] = {
    "chains": {
        "l1": {
            "chain_id": 31337,
            "name": "Ethereum (dev)",
            "rpc_urls": ["http://127.0.0.1:8545"],
            "confirmations": 3,
            "poll_interval": 1,
        },
        "base": {
            "chain_id": 8453,
            "name": "Base (dev)",
            "rpc_urls": ["http://127.0.0.1:8546", "http://127.0.0.1:8547"],
            "confirmations": 2,
            "poll_interval": 0.5,
            "stale_after": 5,
        },
    },
    "assets": {
        "0xbtc": {"chain": "l1", "contract": TOKEN, "decimals": 8, "max_amount": "20999984"},
        "usdc_base": {"chain": "base", "contract": USDC, "decimals": 6, "symbol": "USDC"},
        "eth": {"chain": "l1", "native": True},
    },
}


# (the tests write the config as YAML with sorted keys: base comes before l1)


def _config(tmp_path: Path, changes: dict[str, Any]) -> Config:
    raw = base_config(tmp_path)
    raw.pop("chain")
    raw.update(changes)
    return load_config(write_config(tmp_path, raw))


def _problems(tmp_path: Path, changes: dict[str, Any], *, keep_chain: bool = False) -> list[str]:
    raw = base_config(tmp_path)
    if not keep_chain:
        raw.pop("chain")
    raw.update(changes)
    with pytest.raises(ConfigError) as caught:
        load_config(write_config(tmp_path, raw))
    return caught.value.problems


def test_the_config_contract_is_read_chain_by_chain(tmp_path: Path) -> None:
    config = _config(tmp_path, CONTRACT)
    assert set(config.chains) == {"l1", "base"}
    base = config.chains["base"]
    assert (base.key, base.chain_id, base.name) == ("base", 8453, "Base (dev)")
    assert base.rpc_urls == ("http://127.0.0.1:8546", "http://127.0.0.1:8547")
    assert (base.confirmations, base.poll_interval, base.stale_after) == (2, 0.5, 5.0)
    assert config.chain is config.chains["l1"]  # the default asset's chain
    assert config.chain_of("usdc_base") is base and config.chain_of("eth") is config.chain
    assert config.chain_of("USD") is None
    assert config.confirmations_for("usdc_base") == 2 and config.confirmations_for("0xbtc") == 3
    scopes = {s.chain.key: s for s in scopes_of(config)}
    assert list(scopes["l1"].assets) == ["0xbtc", "eth"]
    assert list(scopes["base"].assets) == ["usdc_base"]
    assert scopes["base"].wallet == config.wallet  # one xpub, one derivation counter


def test_the_single_chain_section_is_the_chain_main(tmp_path: Path) -> None:
    raw = base_config(tmp_path)
    config = load_config(write_config(tmp_path, raw))
    assert list(config.chains) == ["main"] and config.chains["main"] is config.chain
    assert config.chain.chain_id == 31337 and config.chain.name == "Local development chain"
    assert config.chain_of("0xbtc") is config.chain
    assert [s.chain.key for s in scopes_of(config)] == ["main"]


def test_a_misspelled_key_of_a_chain_is_refused(tmp_path: Path) -> None:
    chains = {"l1": {**CONTRACT["chains"]["l1"], "confirmation": 3}}
    assets = {"0xbtc": CONTRACT["assets"]["0xbtc"]}
    assert _problems(tmp_path, {"chains": chains, "assets": assets}) == [
        "chains.l1.confirmation: unknown key (typo?)"
    ]


def test_an_asset_must_name_a_configured_chain(tmp_path: Path) -> None:
    assets = {**CONTRACT["assets"], "usdc_base": {**CONTRACT["assets"]["usdc_base"]}}
    assets["usdc_base"]["chain"] = "bsae"
    assert _problems(tmp_path, {**CONTRACT, "assets": assets}) == [
        "assets.usdc_base.chain: 'bsae' is not one of chains: base, l1"
    ]


def test_with_several_chains_every_asset_names_its_chain(tmp_path: Path) -> None:
    assets = {**CONTRACT["assets"], "eth": {"native": True}}
    assert _problems(tmp_path, {**CONTRACT, "assets": assets}) == [
        "assets.eth.chain: required with several chains: base, l1"
    ]


def test_with_one_chain_an_asset_may_leave_it_out(tmp_path: Path) -> None:
    config = _config(
        tmp_path,
        {
            "chains": {"base": CONTRACT["chains"]["base"]},
            "assets": {"usdc": {"contract": USDC, "decimals": 6}},
            "default_asset": "usdc",
        },
    )
    assert config.chain_of("usdc") is config.chains["base"]


def test_chain_and_chains_together_are_refused(tmp_path: Path) -> None:
    problems = _problems(tmp_path, CONTRACT, keep_chain=True)
    assert problems == ["chain: use either chain: (one chain) or chains: (several), not both"]


def test_two_chains_with_one_chain_id_are_refused(tmp_path: Path) -> None:
    chains = {**CONTRACT["chains"], "base": {**CONTRACT["chains"]["base"], "chain_id": 31337}}
    assert _problems(tmp_path, {**CONTRACT, "chains": chains}) == [
        "chains.l1.chain_id: the same as chains.base"
    ]


def test_block_tags_are_confirmations(tmp_path: Path) -> None:
    chains = {
        "l1": {**CONTRACT["chains"]["l1"], "confirmations": "finalized"},
        "base": {**CONTRACT["chains"]["base"], "confirmations": "safe"},
    }
    config = _config(tmp_path, {**CONTRACT, "chains": chains})
    assert config.confirmations_for("0xbtc") == "finalized"
    assert config.confirmations_for("usdc_base") == "safe"
    problems = _problems(
        tmp_path, {**CONTRACT, "chains": {**chains, "l1": {**chains["l1"], "confirmations": "x"}}}
    )
    assert problems == ["chains.l1.confirmations: expected an integer >= 1, got 'x'"]


def test_bad_chain_names_and_values_are_one_line_each(tmp_path: Path) -> None:
    chains = {
        "L1": CONTRACT["chains"]["l1"],
        "base": {**CONTRACT["chains"]["base"], "max_lag_blocks": 0, "name": 7},
    }
    assets = {"usdc_base": CONTRACT["assets"]["usdc_base"]}
    changes = {"chains": chains, "assets": assets, "default_asset": "usdc_base"}
    assert _problems(tmp_path, changes) == [
        "chains.L1: chain names are lowercase letters, digits and _",
        "chains.base.name: expected a display name of at most 64 characters",
        "chains.base.max_lag_blocks: expected an integer >= 1, got 0",
    ]

"""``xbtcpay sweep sign``: the offline signer. Runs where the mnemonic is, never on the server.

It derives each deposit key from the mnemonic, refuses a plan that is not what it claims
(another mnemonic's account, an address that is not its index, a delegate that does not pay
the plan's treasury, a chain id of 0 that every chain would accept), then signs: EIP-7702
authorizations to the plan's delegate, or for a gas-station plan plain token transfers to the
treasury. The mnemonic and the keys never leave this module: no message, log line or file
holds them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eth_account import Account
from eth_account.hdaccount import seed_from_mnemonic
from eth_account.hdaccount.deterministic import HDPath
from eth_account.hdaccount.mnemonic import Mnemonic
from eth_account.signers.local import LocalAccount
from eth_account.types import Language

from xbtcpay.chain.devchain import ACCOUNT_PATH, account_xpub, calldata
from xbtcpay.sweep.contracts import delegate_address
from xbtcpay.sweep.errors import SweepRefused
from xbtcpay.sweep.plan import GAS_STATION, Authorization, Plan, SignedPlan


@dataclass(frozen=True)
class Summary:
    """What the signer is about to sign, shown to the operator first."""

    count: int
    signatures: int
    total: str
    asset: str
    treasury: str
    delegate: str
    chain_id: int


def check_mnemonic(mnemonic: str) -> str:
    """The normalised phrase, or a refusal that does not repeat it."""
    phrase = " ".join(mnemonic.split())
    if not phrase or not Mnemonic(Language.ENGLISH).is_mnemonic_valid(phrase):
        raise SweepRefused("the mnemonic is not a valid BIP39 phrase")
    return phrase


def check_plan(plan: Plan, mnemonic: str, *, treasury: str | None = None) -> Summary:
    """Everything that must hold before anything is signed; the summary to show."""
    phrase = check_mnemonic(mnemonic)
    if plan.chain_id == 0:
        raise SweepRefused("the plan is for chain id 0, which every chain accepts")
    if treasury is not None and treasury.lower() != plan.treasury.lower():
        raise SweepRefused(f"the plan pays {plan.treasury}, not the expected treasury {treasury}")
    if delegate_address(plan.batch, plan.treasury) != plan.delegate:
        raise SweepRefused(
            f"the plan's delegate {plan.delegate} does not pay its treasury "
            f"{plan.treasury} (tampered plan?)"
        )
    if account_xpub(phrase) != plan.xpub:
        raise SweepRefused(f"the plan's xpub is not this mnemonic's account {ACCOUNT_PATH}")
    seed = seed_from_mnemonic(phrase, "")
    for entry in plan.entries:
        if _key(seed, entry.index).address.lower() != entry.address.lower():
            raise SweepRefused(
                f"{entry.address} is not address {entry.index} of this mnemonic (tampered plan?)"
            )
    signatures = sum(1 for e in plan.entries if plan.kind == GAS_STATION or not e.delegated)
    return Summary(
        count=len(plan.entries),
        signatures=signatures,
        total=format(plan.amount(plan.total), "f"),
        asset=plan.asset,
        treasury=plan.treasury,
        delegate=plan.delegate,
        chain_id=plan.chain_id,
    )


def sign_plan(plan: Plan, mnemonic: str, *, treasury: str | None = None) -> SignedPlan:
    """Check the plan (``check_plan``) and sign it."""
    check_plan(plan, mnemonic, treasury=treasury)
    seed = seed_from_mnemonic(check_mnemonic(mnemonic), "")
    if plan.kind == GAS_STATION:
        return SignedPlan(
            plan,
            (),
            tuple(_transfer(plan, _key(seed, e.index), e.nonce, e.balance) for e in plan.entries),
        )
    auths = []
    for entry in plan.entries:
        if entry.delegated:
            continue
        signed = Account.sign_authorization(
            {"chainId": plan.chain_id, "address": plan.delegate, "nonce": entry.nonce},
            _key(seed, entry.index).key,
        )
        auths.append(
            Authorization(
                authority=entry.address,
                chain_id=plan.chain_id,
                delegate=plan.delegate,
                nonce=entry.nonce,
                y_parity=signed.y_parity,
                r=signed.r,
                s=signed.s,
            )
        )
    return SignedPlan(plan, tuple(auths))


def _key(seed: bytes, index: int) -> LocalAccount:
    account: LocalAccount = Account.from_key(HDPath(f"{ACCOUNT_PATH}/0/{index}").derive(seed))
    return account


def _transfer(plan: Plan, key: LocalAccount, nonce: int, units: int) -> str:
    assert plan.token is not None
    tx: dict[str, Any] = {
        "type": 2,
        "chainId": plan.chain_id,
        "nonce": nonce,
        "to": plan.token,
        "value": 0,
        "data": calldata(
            "transfer(address,uint256)", ["address", "uint256"], [plan.treasury, units]
        ),
        "gas": plan.gas_station["gas"],
        "maxFeePerGas": plan.gas_station["max_fee"],
        "maxPriorityFeePerGas": plan.gas_station["tip"],
    }
    return "0x" + bytes(key.sign_transaction(tx).raw_transaction).hex()

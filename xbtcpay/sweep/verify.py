"""Checks a signed plan must pass on the server before anything is sent.

Each failed check refuses the whole file with one line; nothing is sent. Then each address is
re-read on chain: one whose balance or nonce changed since the plan is skipped (reported),
the rest go ahead.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eth_account import Account
from eth_account.typed_transactions.set_code_transaction import Authorization as Unsigned
from eth_account.typed_transactions.typed_transaction import TypedTransaction
from eth_keys.datatypes import Signature
from eth_utils.address import to_canonical_address
from hexbytes import HexBytes

from xbtcpay.chain.client import ChainClient
from xbtcpay.chain.devchain import calldata
from xbtcpay.chain.wallet import AddressDeriver
from xbtcpay.sweep.errors import SweepRefused
from xbtcpay.sweep.onchain import AccountState, account_states
from xbtcpay.sweep.plan import GAS_STATION, Authorization, PlanEntry, SignedPlan
from xbtcpay.sweep.planner import check_contracts
from xbtcpay.sweep.records import SweepStore
from xbtcpay.sweep.settings import SweepInputs

SECP256K1_HALF_N = 0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0


@dataclass(frozen=True)
class Ready:
    """An address that passed every check, with its authorization (None: already delegated)."""

    entry: PlanEntry
    authorization: Authorization | None
    state: AccountState
    transfer: str | None = None  # gas-station plans: the signed token transfer


@dataclass(frozen=True)
class Checked:
    ready: tuple[Ready, ...]
    skipped: tuple[tuple[str, str], ...]  # (address, why)


def authority_of(auth: Authorization) -> str:
    """The address that really signed ``auth`` (recovered, never taken from the file)."""
    if not 0 < auth.s <= SECP256K1_HALF_N or auth.y_parity not in (0, 1):
        raise SweepRefused(f"the authorization of {auth.authority} has an invalid signature")
    digest = Unsigned(auth.chain_id, to_canonical_address(auth.delegate), auth.nonce).hash()
    try:
        key = Signature(vrs=(auth.y_parity, auth.r, auth.s)).recover_public_key_from_msg_hash(
            digest
        )
    except Exception:  # noqa: BLE001 - any malformed signature is the same refusal
        raise SweepRefused(
            f"the authorization of {auth.authority} has an invalid signature"
        ) from None
    return str(key.to_checksum_address())


async def check_signed(
    config: SweepInputs, store: SweepStore, client: ChainClient, signed: SignedPlan, now: int
) -> Checked:
    """Refuse a signed plan that is not for this server; skip what changed since the plan."""
    plan = signed.plan
    if plan.chain_id != config.chain.chain_id:
        raise SweepRefused(
            f"the plan is for chain id {plan.chain_id}, this server is on "
            f"chain id {config.chain.chain_id}"
        )
    treasury, batch, delegate = await check_contracts(client, config)
    if plan.treasury != treasury:
        raise SweepRefused(f"the plan pays {plan.treasury}, this server's treasury is {treasury}")
    if plan.batch != batch or plan.delegate != delegate:
        raise SweepRefused(f"the plan uses delegate {plan.delegate}, this server's is {delegate}")
    asset = config.assets.get(plan.asset)
    if asset is None or (asset.contract or "").lower() != (plan.token or "").lower():
        raise SweepRefused(f"the plan's asset {plan.asset} ({plan.token}) is not configured here")
    await _check_addresses(config, store, signed, now)
    states = await account_states(client, plan.token, delegate, [e.address for e in plan.entries])
    if plan.kind == GAS_STATION:
        return _gas_station(signed, states)
    auths = _check_authorizations(signed, delegate, config.chain.chain_id)
    ready, skipped = [], []
    for e in plan.entries:
        state, auth = states[e.address], auths.get(e.address)
        why = _changed(e, state, auth)
        if why:
            skipped.append((e.address, why))
        else:
            ready.append(Ready(e, None if state.delegated else auth, state))
    return Checked(tuple(ready), tuple(skipped))


def _gas_station(signed: SignedPlan, states: dict[str, AccountState]) -> Checked:
    """Each signed transfer must be the entry's own key paying its balance to the treasury."""
    plan = signed.plan
    if len(signed.transfers) != len(plan.entries):
        raise SweepRefused("the file does not hold one signed transfer per address")
    ready, skipped = [], []
    for e, raw in zip(plan.entries, signed.transfers, strict=True):
        tx = decode_transfer(raw)
        expected = transfer_calldata(plan.treasury, e.balance)
        if (
            tx["sender"] != e.address
            or str(tx["to"]).lower() != (plan.token or "").lower()
            or tx["data"] != expected
            or tx["chainId"] != plan.chain_id
            or tx["nonce"] != e.nonce
        ):
            raise SweepRefused(
                f"the transfer signed for {e.address} is not its balance to the "
                "treasury (tampered file?)"
            )
        state = states[e.address]
        if state.balance != e.balance or state.nonce != e.nonce:
            skipped.append((e.address, "balance or nonce changed since the plan"))
        else:
            ready.append(Ready(e, None, state, raw))
    return Checked(tuple(ready), tuple(skipped))


def transfer_calldata(treasury: str, units: int) -> str:
    return calldata("transfer(address,uint256)", ["address", "uint256"], [treasury, units])


def decode_transfer(raw: str) -> dict[str, Any]:
    """Fields and sender of a signed type-2 transaction; a refusal when it is not one."""
    try:
        data = bytes.fromhex(raw[2:])
        fields = dict(TypedTransaction.from_bytes(HexBytes(data)).as_dict())
        sender = Account.recover_transaction(data)
    except Exception:  # noqa: BLE001 - any undecodable bytes are the same refusal
        raise SweepRefused("a signed transfer in the file cannot be decoded") from None
    to = fields.get("to")
    return {
        "sender": str(sender),
        "to": "0x" + bytes(to).hex() if isinstance(to, bytes) else to,
        "data": "0x" + bytes(fields.get("data", b"")).hex(),
        "chainId": fields["chainId"],
        "nonce": fields["nonce"],
        "gas": fields["gas"],
        "maxFeePerGas": fields["maxFeePerGas"],
    }


async def _check_addresses(
    config: SweepInputs, store: SweepStore, signed: SignedPlan, now: int
) -> None:
    plan = signed.plan
    if plan.xpub != config.wallet.xpub:
        raise SweepRefused("the plan was made for another wallet (xpub)")
    deriver = AddressDeriver(config.wallet.xpub)
    issued = {
        a.address: a for a in await store.issued(plan.asset, now, config.payments.late_window)
    }
    for e in plan.entries:
        if deriver.address(e.index).lower() != e.address.lower():
            raise SweepRefused(f"{e.address} is not deposit address {e.index} (tampered plan?)")
        found = issued.get(e.address.lower())
        if found is None:
            raise SweepRefused(f"{e.address} is not a deposit address of a {plan.asset} payment")
        if found.open_payments:
            raise SweepRefused(
                f"{e.address} belongs to payment {found.open_payments[0]}, which "
                "can still be paid; it is never swept"
            )


def _check_authorizations(
    signed: SignedPlan, delegate: str, chain_id: int
) -> dict[str, Authorization]:
    """Each authorization delegates to this server's delegate on this server's chain only:
    one for chain id 0 would let the delegation be replayed on every chain."""
    plan = signed.plan
    entries = {e.address: e for e in plan.entries}
    found: dict[str, Authorization] = {}
    for auth in signed.authorizations:
        if auth.delegate != delegate:
            raise SweepRefused(
                f"the authorization of {auth.authority} delegates to "
                f"{auth.delegate}, not to this server's delegate {delegate}"
            )
        if auth.chain_id == 0:
            raise SweepRefused(
                f"the authorization of {auth.authority} is for chain id 0, which every "
                "chain accepts"
            )
        if auth.chain_id != chain_id or auth.chain_id != plan.chain_id:
            raise SweepRefused(
                f"the authorization of {auth.authority} is for chain id {auth.chain_id}, "
                f"this server is on chain id {chain_id}"
            )
        signer = authority_of(auth)
        if signer != auth.authority or signer not in entries:
            raise SweepRefused(
                f"the authorization claimed by {auth.authority} was signed by "
                f"{signer}, which is not in the plan"
            )
        if auth.nonce != entries[signer].nonce:
            raise SweepRefused(f"the authorization of {signer} does not carry the plan's nonce")
        found[signer] = auth
    return found


def _changed(entry: PlanEntry, state: AccountState, auth: Authorization | None) -> str | None:
    if state.balance != entry.balance:
        return f"balance changed since the plan ({entry.balance} -> {state.balance} base units)"
    if state.balance == 0:
        return "nothing to sweep"
    if state.delegated:
        return None
    if auth is None:
        return "not delegated and no authorization in the file"
    if state.nonce != auth.nonce:
        return f"account nonce changed since the plan ({auth.nonce} -> {state.nonce})"
    return None

"""Sweep plans and signed plans: what moves, and the JSON files they travel in.

A plan is made on the server (``build_plan``), signed offline (``xbtcpay.sweep.sign``) and
sent from the server (``xbtcpay.sweep.send``). Amounts are integer base units, written as
decimal strings.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from xbtcpay.sweep.errors import SweepRefused

VERSION = 1
EIP7702, GAS_STATION = "eip7702", "gas-station"


@dataclass(frozen=True)
class PlanEntry:
    """One deposit address to sweep."""

    index: int
    address: str
    payment_ids: tuple[str, ...]
    balance: int  # base units of the plan's asset
    nonce: int  # the account's nonce (what an authorization must carry)
    delegated: bool = False  # already delegates to the plan's delegate: no signature needed


@dataclass(frozen=True)
class Plan:
    """Everything the offline signer needs, and nothing secret."""

    chain_id: int
    asset: str
    token: str | None  # ERC-20 contract, None for native ETH
    decimals: int
    treasury: str
    batch: str
    delegate: str
    xpub: str
    entries: tuple[PlanEntry, ...]
    kind: str = EIP7702
    created_at: int = 0
    gas_station: dict[str, int] = field(default_factory=dict)  # gas, max_fee (gas-station plans)

    @property
    def total(self) -> int:
        return sum(e.balance for e in self.entries)

    def amount(self, units: int) -> Decimal:
        """Base units as an exact decimal of the asset."""
        return Decimal(units).scaleb(-self.decimals).normalize()


@dataclass(frozen=True)
class Authorization:
    """A signed EIP-7702 authorization of one deposit address."""

    authority: str  # the deposit address that signed (as the plan claims it)
    chain_id: int
    delegate: str
    nonce: int
    y_parity: int
    r: int
    s: int

    def rpc(self) -> dict[str, str]:
        """The JSON-RPC form (eth_estimateGas / authorizationList)."""
        return {
            "chainId": hex(self.chain_id),
            "address": self.delegate,
            "nonce": hex(self.nonce),
            "yParity": hex(self.y_parity),
            "r": hex(self.r),
            "s": hex(self.s),
        }

    def signable(self) -> dict[str, Any]:
        """The form eth-account's transaction signer takes."""
        return {
            "chainId": self.chain_id,
            "address": self.delegate,
            "nonce": self.nonce,
            "yParity": self.y_parity,
            "r": self.r,
            "s": self.s,
        }


@dataclass(frozen=True)
class SignedPlan:
    plan: Plan
    authorizations: tuple[Authorization, ...]
    transfers: tuple[str, ...] = ()  # gas-station plans: raw signed token transfers


def plan_to_json(plan: Plan) -> dict[str, Any]:
    return {
        "version": VERSION,
        "kind": plan.kind,
        "chain_id": plan.chain_id,
        "asset": plan.asset,
        "token": plan.token,
        "decimals": plan.decimals,
        "treasury": plan.treasury,
        "batch": plan.batch,
        "delegate": plan.delegate,
        "xpub": plan.xpub,
        "created_at": plan.created_at,
        "gas_station": plan.gas_station,
        "count": len(plan.entries),
        "total": str(plan.total),
        "total_amount": format(plan.amount(plan.total), "f"),
        "addresses": [
            {
                "index": e.index,
                "address": e.address,
                "payment_ids": list(e.payment_ids),
                "balance": str(e.balance),
                "nonce": e.nonce,
                "delegated": e.delegated,
            }
            for e in plan.entries
        ],
    }


def plan_from_json(raw: Any) -> Plan:
    """Parse a plan; SweepRefused with the reason when it is malformed."""
    try:
        if raw.get("version") != VERSION:
            raise SweepRefused(f"unsupported plan version {raw.get('version')!r}")
        entries = tuple(
            PlanEntry(
                index=_int(a["index"]),
                address=_addr(a["address"]),
                payment_ids=tuple(str(p) for p in a["payment_ids"]),
                balance=_int(a["balance"]),
                nonce=_int(a["nonce"]),
                delegated=a.get("delegated") is True,
            )
            for a in raw["addresses"]
        )
        plan = Plan(
            chain_id=_int(raw["chain_id"]),
            asset=str(raw["asset"]),
            token=None if raw["token"] is None else _addr(raw["token"]),
            decimals=_int(raw["decimals"]),
            treasury=_addr(raw["treasury"]),
            batch=_addr(raw["batch"]),
            delegate=_addr(raw["delegate"]),
            xpub=str(raw["xpub"]),
            entries=entries,
            kind=str(raw.get("kind", EIP7702)),
            created_at=_int(raw.get("created_at", 0)),
            gas_station={str(k): _int(v) for k, v in (raw.get("gas_station") or {}).items()},
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise SweepRefused(f"not a sweep plan: {exc}") from None
    if plan.kind not in (EIP7702, GAS_STATION):
        raise SweepRefused(f"unknown plan kind {plan.kind!r}")
    if len({e.address.lower() for e in entries}) != len(entries):
        raise SweepRefused("the plan lists an address twice")
    return plan


def signed_to_json(signed: SignedPlan) -> dict[str, Any]:
    return {
        "plan": plan_to_json(signed.plan),
        "authorizations": [
            {
                "authority": a.authority,
                "chain_id": a.chain_id,
                "delegate": a.delegate,
                "nonce": a.nonce,
                "y_parity": a.y_parity,
                "r": hex(a.r),
                "s": hex(a.s),
            }
            for a in signed.authorizations
        ],
        "transfers": list(signed.transfers),
    }


def signed_from_json(raw: Any) -> SignedPlan:
    try:
        plan = plan_from_json(raw["plan"])
        auths = tuple(
            Authorization(
                authority=_addr(a["authority"]),
                chain_id=_int(a["chain_id"]),
                delegate=_addr(a["delegate"]),
                nonce=_int(a["nonce"]),
                y_parity=_int(a["y_parity"]),
                r=int(str(a["r"]), 16),
                s=int(str(a["s"]), 16),
            )
            for a in raw.get("authorizations", [])
        )
        transfers = tuple(str(t) for t in raw.get("transfers", []))
    except SweepRefused:
        raise
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise SweepRefused(f"not a signed sweep plan: {exc}") from None
    return SignedPlan(plan, auths, transfers)


def read_json(path: str | Path) -> Any:
    try:
        return json.loads(Path(path).read_text())
    except OSError as exc:
        raise SweepRefused(f"cannot read {path}: {exc.strerror}") from None
    except ValueError:
        raise SweepRefused(f"{path} is not JSON") from None


def write_json(path: str | Path, data: Any) -> None:
    Path(path).write_text(json.dumps(data, indent=2) + "\n")


def _int(value: Any) -> int:
    if isinstance(value, bool):
        raise TypeError("expected an integer")
    number = int(value)
    if number < 0:
        raise ValueError("negative number")
    return number


def _addr(value: Any) -> str:
    from eth_utils.address import to_checksum_address

    text = str(value)
    if len(text) != 42 or not text.startswith("0x"):
        raise ValueError(f"not an address: {text!r}")
    return str(to_checksum_address(text))

"""What the sweep reads from the node: balances, nonces and code of many accounts, batched."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from xbtcpay.chain.client import ChainClient
from xbtcpay.sweep.contracts import delegation_code

BATCH = 500


@dataclass(frozen=True)
class AccountState:
    balance: int  # base units of the asset (token or wei)
    eth: int  # wei
    nonce: int
    delegated: bool  # code is the delegation designator of the expected delegate


async def _many(client: ChainClient, method: str, params: list[list[object]]) -> list[object]:
    out: list[object] = []
    for start in range(0, len(params), BATCH):
        out += await client.batch([(method, p) for p in params[start : start + BATCH]])
    return out


async def account_states(
    client: ChainClient,
    token: str | None,
    delegate: str,
    addresses: Sequence[str],
    block: str = "latest",
) -> dict[str, AccountState]:
    """Balance, ETH, nonce and delegation of every address at ``block``."""
    addrs = list(addresses)
    eth = await _many(client, "eth_getBalance", [[a, block] for a in addrs])
    nonces = await _many(client, "eth_getTransactionCount", [[a, block] for a in addrs])
    codes = await _many(client, "eth_getCode", [[a, block] for a in addrs])
    if token is not None:
        tokens = await client.erc20_balances(token, addrs, block) if addrs else {}
    states = {}
    for i, a in enumerate(addrs):
        wei = int(str(eth[i]), 16)
        states[a] = AccountState(
            balance=tokens[a] if token is not None else wei,
            eth=wei,
            nonce=int(str(nonces[i]), 16),
            delegated=str(codes[i]).lower() == delegation_code(delegate),
        )
    return states


async def code_of(client: ChainClient, address: str) -> str:
    return str(await client.call("eth_getCode", [address, "latest"]))


async def batch_delegate(client: ChainClient, batch: str) -> str | None:
    """SweepBatch.delegate() at ``batch``; None when no SweepBatch is there."""
    if await code_of(client, batch) in ("0x", "0x0", ""):
        return None
    result = str(await client.call("eth_call", [{"to": batch, "data": "0xc89e4361"}, "latest"]))
    if len(result) != 66:
        return None
    from eth_utils.address import to_checksum_address

    return str(to_checksum_address("0x" + result[-40:]))
